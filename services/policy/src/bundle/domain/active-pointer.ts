import type { Subjects } from '@warden/contracts';
import { signCanonical, verifyCanonical, type SigningKeys } from '@warden/kernel';
import type { LoadedBundle } from '@warden/policy-language';

/**
 * The KV entry every replica watches: which bundle is active. Signed by the policy's own key over
 * the pointer and its bucket (`sig`), so a pointer put by anyone else on the bus activates nothing;
 * a signed pointer older than the active one (a replayed earlier activation) is refused too.
 */
export interface ActivePointer {
  digest: string;
  version: string;
  activated_at: string;
  activated_by: string;
  sig?: string;
}

/** Why a pointer found in the bucket is not followed (the label of the forged-activation metric). */
export type PointerRefusal = 'malformed' | 'unsigned' | 'bad_signature' | 'stale';

/** The KV bucket of a subject prefix: `WARDEN_POLICY` for `warden` (tests get their own). */
export function policyBucket(subjects: Pick<Subjects, 'prefix'>): string {
  return `${subjects.prefix.toUpperCase().replace(/-/g, '_')}_POLICY`;
}

/** The (unsigned) pointer that activates `loaded`, by `by`, at `at`. */
export function pointerFor(loaded: LoadedBundle, at: Date, by: string): ActivePointer {
  return { digest: loaded.digest, version: loaded.bundle.version, activated_at: at.toISOString(), activated_by: by };
}

/**
 * The pointer signed with the policy's key for `bucket` (any earlier `sig` replaced).
 * @example await kv.put('active', JSON.stringify(sealPointer(keys, bucket, pointerFor(loaded, now, by))))
 */
export function sealPointer(keys: SigningKeys, bucket: string, p: ActivePointer): ActivePointer {
  const { sig: _old, ...unsigned } = p;
  return { ...unsigned, sig: signCanonical(keys, { ...unsigned, bucket }) };
}

/**
 * The pointer if the policy signed it for this bucket, else why not: not an object (`malformed`), no
 * signature (`unsigned`), or one that does not verify for this bucket (`bad_signature`, e.g. copied
 * from another prefix's bucket).
 */
export function openPointer(
  keys: SigningKeys,
  bucket: string,
  p: unknown,
): { pointer: ActivePointer } | { refused: PointerRefusal; pointer?: ActivePointer } {
  if (!p || typeof p !== 'object') return { refused: 'malformed' };
  const { sig, ...unsigned } = p as ActivePointer;
  if (typeof sig !== 'string') return { refused: 'unsigned', pointer: p as ActivePointer };
  if (!verifyCanonical(keys, { ...unsigned, bucket }, sig))
    return { refused: 'bad_signature', pointer: p as ActivePointer };
  return { pointer: p as ActivePointer };
}

/** A signed pointer activated before the active bundle was: a replayed earlier activation, not followed. */
export function isStale(pointer: ActivePointer, activeSince: string): boolean {
  return Date.parse(pointer.activated_at) < Date.parse(activeSince);
}

/**
 * What a replica does at start, given the bucket's (verified) pointer, the last activation Postgres
 * recorded and whether the seed file's bundle was stored before:
 * - `restore`: the pointer is not the latest recorded activation (a replayed signed pointer): put the
 *   latest back (it stays named, so the seed then follows the `seedStoredBefore` rule only);
 * - `activateSeed`: the bucket names no bundle yet, or the seed file's content is new (a deploy that
 *   ships a new file); otherwise the bucket's choice (a push, a rollback) stands.
 */
export function startupSteps(
  pointerDigest: string | undefined,
  latestDigest: string | undefined,
  seedStoredBefore: boolean,
): { restore: boolean; activateSeed: boolean } {
  const restore = pointerDigest !== undefined && latestDigest !== undefined && pointerDigest !== latestDigest;
  return { restore, activateSeed: pointerDigest === undefined || !seedStoredBefore };
}
