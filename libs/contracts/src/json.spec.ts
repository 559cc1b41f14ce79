import fc from 'fast-check';
import { JSON_LIMITS, decodeJson, jsonFieldErrors, printable, stringProblem } from './json';
import { TaskSubmission } from './submission';
import { parseWith } from './validation';

const bytes = (s: string) => new TextEncoder().encode(s);
const nest = (n: number, inner = '0') => '['.repeat(n) + inner + ']'.repeat(n);

describe('decodeJson (the input gate)', () => {
  it('accepts ordinary JSON, emoji, astral characters, U+FFFD, U+2028 and the largest safe integers', () => {
    const v = {
      s: 'héllo 😀 𝄞 \ufffd \u2028 \u2029',
      n: [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, 1e-300, 123.456e10],
      e: {},
      a: [],
      '': 'empty key',
    };
    expect(decodeJson(bytes(JSON.stringify(v)))).toEqual({ ok: true, value: v });
  });

  it('refuses bytes that are not UTF-8 and text that is not JSON on the root path', () => {
    expect(decodeJson(new Uint8Array([0x7b, 0xff, 0x7d]))).toEqual({
      ok: false,
      reason: 'malformed',
      errors: [{ path: '', message: 'body is not valid UTF-8' }],
    });
    const r = decodeJson('{"a":');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.message).toMatch(/^body is not valid JSON/);
  });

  it('refuses a number that overflows (1e400) or is not a safe integer, naming its path — never null', () => {
    const r = decodeJson('{"action":{"args":{"x":[1, 1e400]}},"big":12345678901234567890,"neg":-1e400}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('invalid');
    expect(r.errors.map((e) => e.path).sort()).toEqual(['action.args.x.1', 'big', 'neg']);
    expect(r.errors.find((e) => e.path === 'big')!.message).toMatch(/lose precision/);
    expect(r.errors.find((e) => e.path === 'neg')!.message).toMatch(/finite/);
    expect(decodeJson(String(Number.MAX_SAFE_INTEGER + 2)).ok).toBe(false);
  });

  it('refuses NUL and lone surrogates in values and keys, with printable paths', () => {
    const r = decodeJson('{"a":"x\\u0000","b":["ok","k\\ud800"],"c":"\\udfff","k\\u0000ey":1,"\\udbffz":2}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path).sort()).toEqual(['\\udbffz', 'a', 'b.1', 'c', 'k\\u0000ey']);
    for (const e of r.errors) expect(stringProblem(e.path) ?? stringProblem(e.message)).toBeUndefined();
    expect(r.errors.find((e) => e.path === 'a')!.message).toMatch(/NUL/);
    expect(r.errors.find((e) => e.path === 'b.1')!.message).toMatch(/surrogate/);
    expect(r.errors.find((e) => e.path === 'k\\u0000ey')!.message).toMatch(/^key /);
  });

  it('keeps the three idempotency keys that used to collapse apart: two refused, one accepted', () => {
    expect(decodeJson('"k\\ud800"').ok).toBe(false);
    expect(decodeJson('"k\\udbff"').ok).toBe(false);
    expect(decodeJson('"k\\ufffd"').ok).toBe(true);
    // a well-formed pair is one astral character
    expect(decodeJson('"k\\ud83d\\ude00"')).toEqual({ ok: true, value: 'k😀' });
  });

  it('allows 64 levels of nesting and refuses 65 with the path of the too-deep value, at any depth', () => {
    expect(decodeJson(nest(JSON_LIMITS.maxDepth)).ok).toBe(true);
    const r = decodeJson(nest(JSON_LIMITS.maxDepth + 1));
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors).toEqual([{ path: Array(64).fill('0').join('.'), message: 'nesting is deeper than 64 levels' }]);
    const deep = decodeJson(nest(100_000));
    expect(deep.ok).toBe(false);
    if (!deep.ok) expect(deep.errors[0]!.message).toMatch(/deeper than 64/);
  });

  it('reports at most a bounded number of errors', () => {
    const r = decodeJson(JSON.stringify(Array(1000).fill('\u0000')));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toHaveLength(JSON_LIMITS.maxErrors);
  });

  it('never throws, and whatever it accepts survives a JSON round trip unchanged (what jsonb stores)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const r = decodeJson(text);
          if (r.ok) expect(JSON.parse(JSON.stringify(r.value))).toEqual(r.value);
          if (r.ok) expect(Buffer.from(JSON.stringify(r.value), 'utf8').toString('utf8')).toBe(JSON.stringify(r.value));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the input rule in the shared zod schemas', () => {
  const valid = { agent: { id: 'a', role: 'dev' }, action: { tool: 'fs.read_file', args: {} } };
  it('TaskSubmission refuses what the gate refuses, with the same paths (the bus path and CLI too)', () => {
    const r = parseWith(TaskSubmission, {
      ...valid,
      idempotency_key: 'k\ud800',
      intent: 'x\u0000',
      action: { tool: 'fs.read_file', args: { n: Infinity, deep: JSON.parse(nest(70)) } },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path).sort()).toEqual([
      'action.args.deep.' + Array(61).fill('0').join('.'),
      'action.args.n',
      'idempotency_key',
      'intent',
    ]);
  });

  it('jsonFieldErrors names values JSON cannot carry', () => {
    expect(jsonFieldErrors({ a: undefined, b: 1n })).toEqual([
      { path: 'a', message: 'must be a JSON value, not undefined' },
      { path: 'b', message: 'must be a JSON value, not bigint' },
    ]);
  });

  it('printable escapes only what cannot be stored', () => {
    expect(printable('a\u0000b\ud800c😀\ufffd')).toBe('a\\u0000b\\ud800c😀\ufffd');
  });
});
