import { MAX_OUTPUT_BYTES, type RunResult } from '@warden/contracts';
import { sha256Canonical } from '@warden/kernel';

/**
 * A successful run's result: the hash is of the full output; an output whose JSON exceeds `maxBytes`
 * is shrunk with `truncate` (or cut to a JSON text prefix) and marked `truncated`.
 * @example successResult({ content: 'hi', bytes: 2 })
 */
export function successResult(
  output: unknown,
  truncate?: (output: unknown, maxBytes: number) => unknown,
  maxBytes = MAX_OUTPUT_BYTES,
): RunResult {
  // no event store downstream (JSONB) can hold U+0000: say so instead of failing every retry
  if (containsNul(output)) {
    return failureResult({
      code: 'OUTPUT.UNREPRESENTABLE',
      message: 'the output contains NUL (U+0000) characters; read binary files with encoding: base64',
    });
  }
  const outputHash = sha256Canonical(output ?? null);
  const json = JSON.stringify(output ?? null);
  if (Buffer.byteLength(json) <= maxBytes) return { output: output ?? null, output_hash: outputHash };
  const cut = truncate ? truncate(output, maxBytes) : utf8Prefix(json, maxBytes);
  return { output: cut, output_hash: outputHash, truncated: true };
}

/** A failed run's result: no output, the error, and whether the action may have taken effect. */
export function failureResult(error: { code: string; message: string }, outcomeUnknown = false): RunResult {
  return {
    output: null,
    output_hash: sha256Canonical(null),
    error: { code: error.code, message: error.message.slice(0, 2000) },
    ...(outcomeUnknown ? { outcome_unknown: true } : {}),
  };
}

/** What a crash mid-execution of a non-idempotent tool leaves the run with. */
export function outcomeUnknownResult(tool: string): RunResult {
  return failureResult(
    {
      code: 'OUTCOME_UNKNOWN',
      message: `a worker stopped while executing ${tool}; it may or may not have taken effect and is not run again`,
    },
    true,
  );
}

function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => k.includes('\u0000') || containsNul(v));
  }
  return false;
}

/**
 * A result whose output is larger than `maxBytes` (JSON), cut to a JSON text prefix and marked
 * truncated; any other result as it is. The worker's own guard on what a sandbox answered.
 */
export function capResult(result: RunResult, maxBytes: number): RunResult {
  // an output already cut to a JSON text prefix is measured as that text, not as its JSON encoding
  const text =
    result.truncated && typeof result.output === 'string' ? result.output : JSON.stringify(result.output ?? null);
  if (Buffer.byteLength(text) <= maxBytes) return result;
  return { ...result, output: utf8Prefix(text, maxBytes), truncated: true };
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `maxBytes` (never half a character). */
export function utf8Prefix(s: string, maxBytes: number): string {
  const buf = Buffer.from(s);
  if (buf.length <= maxBytes) return s;
  let end = maxBytes;
  // step back over continuation bytes (10xxxxxx) to the start of the cut character
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}
