import type { DataSource } from 'typeorm';
import { DomainError } from '@warden/kernel';
import type { LoadedBundle } from '@warden/policy-language';
import type { StoredBundleRow } from './domain/bundle.rules';

/**
 * `policy.bundles` (every bundle ever stored, by digest, with its source) and `policy.activations`
 * (every activation, in order) in Postgres. Queries only; what they mean is in domain/.
 */
export class BundleStore {
  constructor(private readonly ds: DataSource) {}

  /** Whether a bundle with this digest was stored before. */
  async has(digest: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query('SELECT 1 FROM "policy".bundles WHERE digest = $1', [digest]);
    return rows.length > 0;
  }

  /** Stores a bundle's source (once per digest). */
  async store(text: string, loaded: LoadedBundle, by: string): Promise<void> {
    await this.ds.query(
      `INSERT INTO "policy".bundles (digest, version, source, created_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (digest) DO NOTHING`,
      [loaded.digest, loaded.bundle.version, text, by],
    );
  }

  /**
   * A stored bundle's digest, version and source.
   * @throws DomainError BUNDLE.NOT_FOUND for a digest never stored
   */
  async source(digest: string): Promise<{ digest: string; version: string; source: string }> {
    const rows: { digest: string; version: string; source: string }[] = await this.ds.query(
      'SELECT digest, version, source FROM "policy".bundles WHERE digest = $1',
      [digest],
    );
    if (!rows[0]) throw new DomainError('BUNDLE.NOT_FOUND', `no stored bundle ${digest}`);
    return rows[0];
  }

  /**
   * A stored bundle's source only (what loading it needs).
   * @throws DomainError BUNDLE.NOT_FOUND for a digest never stored
   */
  async sourceText(digest: string): Promise<string> {
    const rows: { source: string }[] = await this.ds.query('SELECT source FROM "policy".bundles WHERE digest = $1', [
      digest,
    ]);
    if (!rows[0]) throw new DomainError('BUNDLE.NOT_FOUND', `no stored bundle ${digest}`);
    return rows[0].source;
  }

  /** The last activation recorded, if any. */
  async latestActivation(): Promise<{ digest: string; activated_by: string } | undefined> {
    const rows: { digest: string; activated_by: string }[] = await this.ds.query(
      'SELECT digest, activated_by FROM "policy".activations ORDER BY id DESC LIMIT 1',
    );
    return rows[0];
  }

  /** Records an activation. */
  async recordActivation(digest: string, by: string): Promise<void> {
    await this.ds.query('INSERT INTO "policy".activations (digest, activated_by) VALUES ($1, $2)', [digest, by]);
  }

  /** The 100 newest stored bundles with their last activation. */
  async list(): Promise<StoredBundleRow[]> {
    return this.ds.query(
      `SELECT b.digest, b.version, b.created_at, b.created_by, max(a.activated_at) AS last
         FROM "policy".bundles b LEFT JOIN "policy".activations a ON a.digest = b.digest
        GROUP BY b.digest ORDER BY b.created_at DESC LIMIT 100`,
    );
  }
}
