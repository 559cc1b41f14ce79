import { RunResult } from '@warden/contracts';
import { sha256Canonical } from '@warden/kernel';
import { capResult, failureResult, outcomeUnknownResult, successResult, utf8Prefix } from './result';

describe('run results', () => {
  it('hashes the output and keeps small outputs whole', () => {
    const r = successResult({ content: 'hi', bytes: 2 });
    expect(r).toEqual({
      output: { content: 'hi', bytes: 2 },
      output_hash: sha256Canonical({ bytes: 2, content: 'hi' }),
    });
    expect(RunResult.safeParse(r).success).toBe(true);
  });

  it('hashes the full output but truncates what it keeps', () => {
    const big = { content: 'x'.repeat(100), bytes: 100 };
    const r = successResult(big, (o, max) => ({ ...(o as object), content: 'x'.repeat(max - 40) }), 80);
    expect(r.truncated).toBe(true);
    expect(r.output_hash).toBe(sha256Canonical(big));
    expect(JSON.stringify(r.output).length).toBeLessThanOrEqual(80);
  });

  it('falls back to a JSON prefix when the tool has no truncation', () => {
    const r = successResult({ a: 'y'.repeat(50) }, undefined, 10);
    expect(r).toMatchObject({ output: '{"a":"yyyy', truncated: true });
  });

  it('fails an output no event store can hold (U+0000) with advice, instead of retrying forever', () => {
    for (const output of [{ content: 'bin\u0000ary' }, ['a', { 'k\u0000': 1 }]]) {
      const r = successResult(output);
      expect(r.error).toEqual({ code: 'OUTPUT.UNREPRESENTABLE', message: expect.stringMatching(/base64/) });
      expect(r.output).toBeNull();
    }
    expect(successResult({ content: 'a literal \\u0000 is fine' }).error).toBeUndefined();
  });

  it('describes failures with no output, and marks unknown outcomes', () => {
    expect(failureResult({ code: 'FS.NOT_FOUND', message: 'nope' })).toEqual({
      output: null,
      output_hash: sha256Canonical(null),
      error: { code: 'FS.NOT_FOUND', message: 'nope' },
    });
    const u = outcomeUnknownResult('fs.write_file');
    expect(u).toMatchObject({ output: null, outcome_unknown: true, error: { code: 'OUTCOME_UNKNOWN' } });
    expect(RunResult.safeParse(u).success).toBe(true);
  });

  it('capResult cuts an output over the limit to a JSON text prefix, measuring a cut one as text', () => {
    const r = successResult({ stdout: 'y'.repeat(500) });
    const capped = capResult(r, 100);
    expect(capped.truncated).toBe(true);
    expect(capped.output_hash).toBe(r.output_hash);
    expect(Buffer.byteLength(capped.output as string)).toBeLessThanOrEqual(100);
    expect(capResult(capped, 100)).toBe(capped); // its quotes are not counted twice
    expect(capResult(r, 10_000)).toBe(r);
  });

  it('utf8Prefix never splits a character', () => {
    expect(utf8Prefix('aé€', 4)).toBe('aé');
    expect(utf8Prefix('aé€', 3)).toBe('aé');
    expect(utf8Prefix('aé€', 2)).toBe('a');
    expect(utf8Prefix('abc', 10)).toBe('abc');
  });
});
