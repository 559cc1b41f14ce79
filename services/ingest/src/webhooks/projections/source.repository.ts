import type { EntityManager } from 'typeorm';

/** A source's sealed secret and its validity (null `expiresAt`: current). */
export interface SecretRow {
  id: string;
  sealed: string;
  createdAt: Date;
  expiresAt: Date | null;
}

export interface SourceRow {
  name: string;
  createdAt: Date;
  createdBy: string;
  secrets: SecretRow[];
}

const SOURCES = '"ingest".webhook_sources';
const SECRETS = '"ingest".webhook_secrets';
const DELIVERIES = '"ingest".webhook_deliveries';

/** All SQL on webhook sources, their secrets and accepted deliveries. */
export class SourceRepository {
  /** Creates a source with its first secret; false if the name is taken. */
  async create(em: EntityManager, name: string, sealed: string, by: string, now: Date): Promise<boolean> {
    const rows: unknown[] = await em.query(
      `INSERT INTO ${SOURCES} (name, created_at, created_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING name`,
      [name, now, by],
    );
    if (rows.length === 0) return false;
    await em.query(`INSERT INTO ${SECRETS} (source, secret_enc, created_at) VALUES ($1, $2, $3)`, [name, sealed, now]);
    return true;
  }

  /** Locks the source row; false if there is none. */
  async lock(em: EntityManager, name: string): Promise<boolean> {
    const rows: unknown[] = await em.query(`SELECT 1 FROM ${SOURCES} WHERE name = $1 FOR UPDATE`, [name]);
    return rows.length > 0;
  }

  /**
   * Rotation: current secrets expire at `graceUntil` (earlier expiries stand), the new one becomes
   * current, and secrets already expired are dropped.
   */
  async rotate(em: EntityManager, name: string, sealed: string, now: Date, graceUntil: Date): Promise<void> {
    await em.query(`DELETE FROM ${SECRETS} WHERE source = $1 AND expires_at IS NOT NULL AND expires_at <= $2`, [
      name,
      now,
    ]);
    await em.query(`UPDATE ${SECRETS} SET expires_at = LEAST(COALESCE(expires_at, $2), $2) WHERE source = $1`, [
      name,
      graceUntil,
    ]);
    await em.query(`INSERT INTO ${SECRETS} (source, secret_enc, created_at) VALUES ($1, $2, $3)`, [name, sealed, now]);
  }

  async delete(em: EntityManager, name: string): Promise<boolean> {
    // a bare DELETE … RETURNING comes back from TypeORM as [rows, count]; a SELECT over it as rows
    const rows: unknown[] = await em.query(
      `WITH d AS (DELETE FROM ${SOURCES} WHERE name = $1 RETURNING name) SELECT name FROM d`,
      [name],
    );
    return rows.length > 0;
  }

  /** The source with its secrets still valid at `now`, newest first; undefined if there is no such source. */
  async find(em: EntityManager, name: string, now: Date): Promise<SourceRow | undefined> {
    return (await this.list(em, now, name))[0];
  }

  async list(em: EntityManager, now: Date, only?: string): Promise<SourceRow[]> {
    const rows: {
      name: string;
      created_at: Date;
      created_by: string;
      id: string | null;
      secret_enc: string | null;
      secret_created_at: Date | null;
      expires_at: Date | null;
    }[] = await em.query(
      `SELECT s.name, s.created_at, s.created_by, k.id, k.secret_enc, k.created_at AS secret_created_at, k.expires_at
       FROM ${SOURCES} s
       LEFT JOIN ${SECRETS} k ON k.source = s.name AND (k.expires_at IS NULL OR k.expires_at > $1)
       WHERE ($2::text IS NULL OR s.name = $2)
       ORDER BY s.name, k.created_at DESC, k.id DESC`,
      [now, only ?? null],
    );
    const out = new Map<string, SourceRow>();
    for (const r of rows) {
      let s = out.get(r.name);
      if (!s) {
        s = { name: r.name, createdAt: new Date(r.created_at), createdBy: r.created_by, secrets: [] };
        out.set(r.name, s);
      }
      if (r.id !== null && r.secret_enc !== null)
        s.secrets.push({
          id: String(r.id),
          sealed: r.secret_enc,
          createdAt: new Date(r.secret_created_at!),
          expiresAt: r.expires_at ? new Date(r.expires_at) : null,
        });
    }
    return [...out.values()];
  }

  /** Records an accepted delivery; returns the run id that stands for it (the first one recorded). */
  async recordDelivery(em: EntityManager, source: string, webhookId: string, runId: string): Promise<string> {
    const rows: { run_id: string }[] = await em.query(
      `WITH ins AS (
         INSERT INTO ${DELIVERIES} (source, webhook_id, run_id) VALUES ($1, $2, $3)
         ON CONFLICT (source, webhook_id) DO NOTHING RETURNING run_id)
       SELECT run_id FROM ins
       UNION ALL
       SELECT run_id FROM ${DELIVERIES} WHERE source = $1 AND webhook_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [source, webhookId, runId],
    );
    return rows[0]?.run_id ?? runId;
  }

  async delivery(em: EntityManager, source: string, webhookId: string): Promise<string | undefined> {
    const rows: { run_id: string }[] = await em.query(
      `SELECT run_id FROM ${DELIVERIES} WHERE source = $1 AND webhook_id = $2`,
      [source, webhookId],
    );
    return rows[0]?.run_id;
  }
}
