import type { EntityManager } from 'typeorm';
import type { AuditCheckpoint, AuditRecord } from '../domain/chain';

const RECORDS = 'orchestrator.audit_records';
const CHECKPOINTS = 'orchestrator.audit_checkpoints';

/** A record as Postgres returns it: the bigint columns come back as text. */
type RecordRow = Omit<AuditRecord, 'kind' | 'seq' | 'stream_seq'> & { seq: string; stream_seq: string };

function toRecord(r: RecordRow): AuditRecord {
  return {
    kind: 'record',
    seq: Number(r.seq),
    stream_seq: Number(r.stream_seq),
    event_id: r.event_id,
    type: r.type,
    run_id: r.run_id,
    occurred_at: r.occurred_at,
    producer: r.producer,
    event_hash: r.event_hash,
    prev_hash: r.prev_hash,
    hash: r.hash,
    event: r.event,
  };
}

interface CheckpointRow {
  up_to_seq: string;
  head_hash: string;
  created_at: string;
  key_id: string;
  sig: string;
}

/** The audit chain's rows: records and signed checkpoints. */
export class AuditRepository {
  constructor(private readonly em: EntityManager) {}

  async head(): Promise<{ seq: number; hash: string } | undefined> {
    const rows: { seq: string; hash: string }[] = await this.em.query(
      `SELECT seq, hash FROM ${RECORDS} ORDER BY seq DESC LIMIT 1`,
    );
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : undefined;
  }

  /**
   * What a batch of the chain starts from, in one round trip: which of `ids` are recorded already,
   * the chain's head and its last signed checkpoint.
   */
  async batchContext(ids: string[]): Promise<{
    recorded: Set<string>;
    head: { seq: number; hash: string } | undefined;
    lastCheckpoint: { up_to_seq: number; created_at: string } | undefined;
  }> {
    const [row] = (await this.em.query(
      `SELECT (SELECT coalesce(array_agg(event_id::text), '{}') FROM ${RECORDS} WHERE event_id = ANY($1::uuid[])) AS recorded,
              (SELECT json_build_object('seq', seq::text, 'hash', hash) FROM ${RECORDS} ORDER BY seq DESC LIMIT 1) AS head,
              (SELECT json_build_object('up_to_seq', up_to_seq::text, 'created_at', created_at) FROM ${CHECKPOINTS}
                ORDER BY up_to_seq DESC LIMIT 1) AS last`,
      [ids],
    )) as [
      {
        recorded: string[];
        head: { seq: string; hash: string } | null;
        last: { up_to_seq: string; created_at: string } | null;
      },
    ];
    return {
      recorded: new Set(row.recorded),
      head: row.head ? { seq: Number(row.head.seq), hash: row.head.hash } : undefined,
      lastCheckpoint: row.last ? { up_to_seq: Number(row.last.up_to_seq), created_at: row.last.created_at } : undefined,
    };
  }

  async insertRecords(records: AuditRecord[]): Promise<void> {
    if (!records.length) return;
    const values: unknown[] = [];
    const tuples = records.map((r, i) => {
      values.push(
        r.seq,
        r.stream_seq,
        r.event_id,
        r.type,
        r.run_id,
        r.occurred_at,
        r.producer,
        r.event_hash,
        r.prev_hash,
        r.hash,
        JSON.stringify(r.event),
      );
      const b = i * 11;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, $${b + 10}, $${b + 11}::jsonb)`;
    });
    await this.em.query(
      `INSERT INTO ${RECORDS} (seq, stream_seq, event_id, type, run_id, occurred_at, producer, event_hash, prev_hash, hash, event)
       VALUES ${tuples.join(', ')}`,
      values,
    );
  }

  async insertCheckpoint(c: AuditCheckpoint): Promise<void> {
    // a rebuild recomputes the same chain: the checkpoint already signed for this record stands
    await this.em.query(
      `INSERT INTO ${CHECKPOINTS} (up_to_seq, head_hash, created_at, key_id, sig) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (up_to_seq) DO NOTHING`,
      [c.up_to_seq, c.head_hash, c.created_at, c.key_id, c.sig],
    );
  }

  /** The first record seq with `occurred_at` at or after `since` (ISO time), or undefined. */
  async firstSeqSince(since: string): Promise<number | undefined> {
    const rows: { seq: string | null }[] = await this.em.query(
      `SELECT min(seq) AS seq FROM ${RECORDS} WHERE occurred_at >= $1`,
      [since],
    );
    return rows[0]?.seq ? Number(rows[0].seq) : undefined;
  }

  /** Records `from`..`to` in order, at most `limit`. */
  async records(from: number, to: number, limit: number): Promise<AuditRecord[]> {
    const rows: RecordRow[] = await this.em.query(
      `SELECT seq, stream_seq, event_id, type, run_id, occurred_at, producer, event_hash, prev_hash, hash, event
       FROM ${RECORDS} WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
      [from, to, limit],
    );
    return rows.map(toRecord);
  }

  async checkpoints(from: number, to: number, chain: string): Promise<AuditCheckpoint[]> {
    const rows: CheckpointRow[] = await this.em.query(
      `SELECT up_to_seq, head_hash, created_at, key_id, sig FROM ${CHECKPOINTS}
       WHERE up_to_seq >= $1 AND up_to_seq <= $2 ORDER BY up_to_seq`,
      [from, to],
    );
    return rows.map((r) => ({
      kind: 'checkpoint',
      chain,
      up_to_seq: Number(r.up_to_seq),
      head_hash: r.head_hash,
      created_at: r.created_at,
      key_id: r.key_id,
      sig: r.sig,
    }));
  }

  async reset(): Promise<void> {
    // signed checkpoints are evidence: kept, and the rebuilt (identical) chain still matches them
    await this.em.query(`DELETE FROM ${RECORDS}`);
  }
}
