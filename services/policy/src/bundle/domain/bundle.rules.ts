import { DomainError, ValidationError } from '@warden/kernel';
import { parseBundle, unexecutableRewrites, type LoadedBundle } from '@warden/policy-language';

/** A stored bundle, as `GET /v1/policy/bundles` lists it. */
export interface StoredBundle {
  digest: string;
  version: string;
  created_at: string;
  created_by: string;
  last_activated_at: string | null;
  active: boolean;
}

/** A `policy.bundles` row joined with its last activation. */
export interface StoredBundleRow {
  digest: string;
  version: string;
  created_at: Date;
  created_by: string;
  last: Date | null;
}

/**
 * A pushed bundle, parsed and compiled.
 * @throws ValidationError with every problem's path and line for a bad bundle, and for one whose
 *   tests show a compute rewrite no worker can execute
 */
export function compilePushed(text: string): LoadedBundle {
  const loaded = parseBundle(text);
  const unexecutable = unexecutableRewrites(loaded);
  if (unexecutable.length) throw new ValidationError(unexecutable);
  return loaded;
}

/**
 * A bundle stored under `digest`, parsed and compiled again.
 * @throws DomainError POLICY.BUNDLE_INVALID when it no longer validates, or parses to another digest
 *   (the schema's defaults changed since it was stored: its canonical form, and so digest, moved)
 */
export function compileStored(source: string, digest: string): LoadedBundle {
  let loaded: LoadedBundle;
  try {
    loaded = parseBundle(source);
  } catch (err) {
    if (err instanceof ValidationError)
      throw new DomainError('POLICY.BUNDLE_INVALID', `stored bundle ${digest} no longer validates: ${err.message}`);
    throw err;
  }
  if (loaded.digest !== digest) {
    throw new DomainError('POLICY.BUNDLE_INVALID', `stored bundle ${digest} now parses to ${loaded.digest}`);
  }
  return loaded;
}

/** How a stored bundle is listed, `active` when it is the one judging now. */
export function storedBundleOf(r: StoredBundleRow, activeDigest: string): StoredBundle {
  return {
    digest: r.digest,
    version: r.version,
    created_at: new Date(r.created_at).toISOString(),
    created_by: r.created_by,
    last_activated_at: r.last ? new Date(r.last).toISOString() : null,
    active: r.digest === activeDigest,
  };
}
