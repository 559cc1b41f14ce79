import type { FieldError } from './common';

/**
 * The one rule for every JSON value that enters Warden (HTTP bodies, webhooks, the bus submission
 * path, `warden.policy.evaluate`): what every store downstream (Postgres jsonb and text, canonical
 * JSON hashing, Redis keys) can hold unchanged. Anything else is refused with its field path, before
 * anything is keyed, hashed, stored, published or answered 2xx — never normalised, so two different
 * inputs never collapse into one.
 */
export const JSON_LIMITS = {
  /** Nesting of objects and arrays; the root object is level 1. */
  maxDepth: 64,
  /** Beyond ±(2^53 − 1) a JSON number cannot be kept exactly (and `1e400` parses to Infinity). */
  maxSafeNumber: Number.MAX_SAFE_INTEGER,
  /** Errors reported at most (a hostile body may hold thousands). */
  maxErrors: 20,
} as const;

// an unpaired high surrogate, or a low surrogate without its high one
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why a string cannot be stored as it is (NUL, or a lone UTF-16 surrogate), or undefined when it can.
 * Postgres refuses both in text and jsonb; UTF-8 encoding turns a lone surrogate into U+FFFD, so
 * `"k\ud800"` and `"k\ufffd"` would become the same key.
 * @example stringProblem('a\u0000b') // 'must not contain NUL (U+0000) characters'
 */
export function stringProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL (U+0000) characters';
  if (LONE_SURROGATE.test(s)) return 'must be well-formed Unicode (a lone UTF-16 surrogate is not)';
  return undefined;
}

/** Why a number cannot be kept exactly, or undefined. */
export function numberProblem(n: number): string | undefined {
  if (!Number.isFinite(n)) return 'must be a finite number (it overflows a 64-bit float)';
  if (Math.abs(n) > JSON_LIMITS.maxSafeNumber)
    return `must be between -${JSON_LIMITS.maxSafeNumber} and ${JSON_LIMITS.maxSafeNumber} (larger numbers lose precision)`;
  return undefined;
}

// eslint-disable-next-line no-control-regex -- NUL is exactly what this finds
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `s` with NUL and lone surrogates written as `\uXXXX` escapes, so a field path or message that
 * names a bad key can itself be stored and published.
 * @example printable('k\u0000') // 'k\\u0000'
 */
export function printable(s: string): string {
  return s.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Dotted path as {@link toFieldErrors} writes it (`action.args.items.3`), printable. */
export function dottedPath(path: readonly PropertyKey[]): string {
  return printable(path.map(String).join('.'));
}

/**
 * Every place in `value` that breaks the input rule: nesting deeper than {@link JSON_LIMITS}.maxDepth,
 * a non-finite or unsafe number, a string or key with NUL or a lone surrogate, or a value JSON cannot
 * carry (undefined, a function, a bigint). Iterative, so any depth is safe to inspect. Paths are as
 * zod reports them (`["action", "args", "x"]`).
 * @example jsonIssues({ a: [1e400] }) // [{ path: ['a', 0], message: 'must be a finite number …' }]
 */
export function jsonIssues(
  value: unknown,
  maxDepth: number = JSON_LIMITS.maxDepth,
): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const stack: { v: unknown; path: (string | number)[]; depth: number }[] = [{ v: value, path: [], depth: 0 }];
  while (stack.length > 0 && out.length < JSON_LIMITS.maxErrors) {
    const { v, path, depth } = stack.pop()!;
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'string') {
      const p = stringProblem(v);
      if (p) out.push({ path, message: p });
      continue;
    }
    if (typeof v === 'number') {
      const p = numberProblem(v);
      if (p) out.push({ path, message: p });
      continue;
    }
    if (typeof v !== 'object') {
      out.push({ path, message: `must be a JSON value, not ${typeof v}` });
      continue;
    }
    if (depth + 1 > maxDepth) {
      out.push({ path, message: `nesting is deeper than ${maxDepth} levels` });
      continue;
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i], depth: depth + 1 });
      continue;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, child] = entries[i]!;
      const p = stringProblem(k);
      if (p) out.push({ path: [...path, k], message: `key ${p}` });
      stack.push({ v: child, path: [...path, k], depth: depth + 1 });
    }
  }
  return out;
}

/** {@link jsonIssues} as field errors with dotted paths. */
export function jsonFieldErrors(value: unknown, maxDepth?: number): FieldError[] {
  return jsonIssues(value, maxDepth).map((i) => ({ path: dottedPath(i.path), message: i.message }));
}

export type DecodedJson =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'malformed'; errors: FieldError[] }
  /** JSON that breaks the input rule; `value` only to read an id for the rejection, never to use. */
  | { ok: false; reason: 'invalid'; errors: FieldError[]; value: unknown };

/**
 * The JSON gate: strict UTF-8 (bytes), JSON, then {@link jsonIssues}. Never throws. `malformed` when
 * it is not UTF-8 JSON at all (path `''`), `invalid` when it is JSON that breaks the input rule (each
 * field path named). `JSON.parse` itself is iterative in V8, so a deep body is refused here, never a
 * "Maximum call stack size exceeded" further on.
 * @example decodeJson(Buffer.from('{"n":1e400}')) // { ok: false, reason: 'invalid', errors: [{ path: 'n', … }] }
 */
export function decodeJson(input: Uint8Array | string): DecodedJson {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      return { ok: false, reason: 'malformed', errors: [{ path: '', message: 'body is not valid UTF-8' }] };
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      reason: 'malformed',
      errors: [{ path: '', message: `body is not valid JSON: ${(err as Error).message}` }],
    };
  }
  const errors = jsonFieldErrors(value);
  return errors.length > 0 ? { ok: false, reason: 'invalid', errors, value } : { ok: true, value };
}
