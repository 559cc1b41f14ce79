import { readFile } from 'node:fs/promises';
import { ValidationError } from '@warden/kernel';
import { parseBundle, type LoadedBundle } from '@warden/policy-language';

/** What `GET /v1/policy` shows. */
export interface BundleInfo {
  version: string;
  digest: string;
  activated_at: string;
}

/**
 * The bundle this replica judges by. Swapped whole (one reference, already compiled), so an
 * evaluation in flight keeps the bundle it started with; {@link BundleRegistry} swaps it when the
 * active bundle changes on any replica.
 */
export class ActiveBundle {
  constructor(
    private loaded: LoadedBundle,
    private activatedAt: Date,
  ) {}

  get current(): LoadedBundle {
    return this.loaded;
  }

  info(): BundleInfo {
    return {
      version: this.loaded.bundle.version,
      digest: this.loaded.digest,
      activated_at: this.activatedAt.toISOString(),
    };
  }

  activate(next: LoadedBundle, at: Date): void {
    this.loaded = next;
    this.activatedAt = at;
  }
}

/**
 * Reads and validates a bundle file; fails with the file name and every problem's path, so a bad
 * bundle stops the service at start rather than judging with half a policy.
 */
export async function loadBundleFile(path: string): Promise<LoadedBundle> {
  return (await readBundleFile(path)).loaded;
}

/** {@link loadBundleFile}, with the text as read (stored as the bundle's source). */
export async function readBundleFile(path: string): Promise<{ text: string; loaded: LoadedBundle }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read policy bundle ${path} (set WARDEN_POLICY_FILE): ${(err as Error).message}`);
  }
  try {
    return { text, loaded: parseBundle(text) };
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new Error(
        `invalid policy bundle ${path}:\n${err.errors.map((e) => `  ${e.path || '(root)'}: ${e.message}`).join('\n')}`,
      );
    }
    throw err;
  }
}
