import { createHash } from 'node:crypto';
// RFC 8785 JSON Canonicalization Scheme, by the reference implementation's author.
import canonicalizeImpl from 'canonicalize';

/**
 * RFC 8785 canonical JSON of a value (sorted keys, normalised numbers).
 * @example canonicalJson({ b: 1, a: 2 }) === '{"a":2,"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const out = (canonicalizeImpl as (v: unknown) => string | undefined)(value);
  if (out === undefined) throw new TypeError('value cannot be canonicalised to JSON');
  return out;
}

/**
 * `sha256:<hex>` of the canonical JSON of a value.
 * @example sha256Canonical({ tool: 'fs.read_file' })
 */
export function sha256Canonical(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** `sha256:<hex>` of a string or buffer. */
export function sha256Hex(data: string | Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}
