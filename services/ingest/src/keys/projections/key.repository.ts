import type { EntityManager } from 'typeorm';

/** A row of `ingest.api_keys`: the key's hash and bookkeeping; the key itself is never stored. */
export interface KeyRow {
  keyId: string;
  name: string;
  owner: string;
  keyHash: string;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  replacedBy: string | null;
}

const TABLE = '"ingest".api_keys';

interface Raw {
  key_id: string;
  name: string;
  owner: string;
  key_hash: string;
  created_at: Date;
  created_by: string;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  replaced_by: string | null;
}

const fromRaw = (r: Raw): KeyRow => ({
  keyId: r.key_id,
  name: r.name,
  owner: r.owner,
  keyHash: r.key_hash,
  createdAt: new Date(r.created_at),
  createdBy: r.created_by,
  lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null,
  expiresAt: r.expires_at ? new Date(r.expires_at) : null,
  revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
  revokedBy: r.revoked_by,
  replacedBy: r.replaced_by,
});

/** All SQL on `ingest.api_keys`. */
export class KeyRepository {
  async insert(em: EntityManager, row: Omit<KeyRow, 'lastUsedAt' | 'revokedAt' | 'revokedBy' | 'replacedBy'>) {
    await em.query(
      `INSERT INTO ${TABLE} (key_id, name, owner, key_hash, created_at, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [row.keyId, row.name, row.owner, row.keyHash, row.createdAt, row.createdBy, row.expiresAt],
    );
  }

  /** The row, locked for the rest of the transaction. */
  async lock(em: EntityManager, keyId: string): Promise<KeyRow | undefined> {
    const rows: Raw[] = await em.query(`SELECT * FROM ${TABLE} WHERE key_id = $1 FOR UPDATE`, [keyId]);
    return rows[0] ? fromRaw(rows[0]) : undefined;
  }

  async revoke(em: EntityManager, keyId: string, at: Date, by: string, replacedBy: string | null): Promise<void> {
    await em.query(
      `UPDATE ${TABLE} SET revoked_at = LEAST(COALESCE(revoked_at, $2), $2), revoked_by = $3,
         replaced_by = COALESCE($4, replaced_by) WHERE key_id = $1`,
      [keyId, at, by, replacedBy],
    );
  }

  async all(em: EntityManager): Promise<KeyRow[]> {
    const rows: Raw[] = await em.query(`SELECT * FROM ${TABLE} ORDER BY created_at, key_id`);
    return rows.map(fromRaw);
  }

  /** Records use; a no-op for keys this database does not hold. */
  async touch(em: EntityManager, keyId: string, at: Date): Promise<void> {
    await em.query(
      `UPDATE ${TABLE} SET last_used_at = $2 WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`,
      [keyId, at],
    );
  }
}
