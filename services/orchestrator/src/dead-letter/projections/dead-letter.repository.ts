import type { EntityManager } from 'typeorm';

const TABLE = 'orchestrator.dead_letters';

export type DeadLetterStatus = 'pending' | 'redriven' | 'discarded';

/** A dead letter as listed. */
export interface DeadLetterSummary {
  dlq_seq: number;
  dlq_subject: string;
  service: string;
  consumer: string;
  code: string;
  /** `invalid`, `forged`, `refused` or `max_deliveries` (the `warden_bus_dead_letters_total` label). */
  category: string;
  reason: string;
  original_subject: string;
  original_stream: string | null;
  original_seq: number | null;
  deliveries: number | null;
  dead_at: string;
  status: DeadLetterStatus;
  handled_by: string | null;
  handled_by_id: string | null;
  handled_at: string | null;
  note: string | null;
  redrive_msg_id: string | null;
  redrive_seq: number | null;
}

/** A dead letter with its headers and bytes. */
export interface DeadLetter extends DeadLetterSummary {
  headers: Record<string, string>;
  body: Buffer;
}

export interface NewDeadLetter {
  dlq_seq: number;
  dlq_subject: string;
  service: string;
  consumer: string;
  code: string;
  category: string;
  reason: string;
  original_subject: string;
  original_stream: string | null;
  original_seq: number | null;
  deliveries: number | null;
  headers: Record<string, string>;
  body: Buffer;
  dead_at: Date;
}

export interface DeadLetterFilter {
  service?: string;
  consumer?: string;
  code?: string;
  /** A category (`forged`, …) or words of the reason text. */
  reason?: string;
  since?: string;
  status?: DeadLetterStatus;
  limit: number;
  /** Only dead letters older than this WARDEN_DLQ sequence (the previous page's cursor). */
  before?: number;
}

const CATEGORIES = ['invalid', 'forged', 'refused', 'max_deliveries'];
const SUMMARY_COLUMNS = `dlq_seq, dlq_subject, service, consumer, code, category, reason, original_subject, original_stream,
  original_seq, deliveries, dead_at, status, handled_by, handled_by_id, handled_at, note, redrive_msg_id, redrive_seq`;

type Row = Record<string, unknown>;

function toSummary(r: Row): DeadLetterSummary {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v === null ? null : String(v));
  return {
    dlq_seq: Number(r.dlq_seq),
    dlq_subject: String(r.dlq_subject),
    service: String(r.service),
    consumer: String(r.consumer),
    code: String(r.code),
    category: String(r.category),
    reason: String(r.reason),
    original_subject: String(r.original_subject),
    original_stream: (r.original_stream as string | null) ?? null,
    original_seq: num(r.original_seq),
    deliveries: num(r.deliveries),
    dead_at: iso(r.dead_at)!,
    status: r.status as DeadLetterStatus,
    handled_by: (r.handled_by as string | null) ?? null,
    handled_by_id: (r.handled_by_id as string | null) ?? null,
    handled_at: iso(r.handled_at),
    note: (r.note as string | null) ?? null,
    redrive_msg_id: (r.redrive_msg_id as string | null) ?? null,
    redrive_seq: num(r.redrive_seq),
  };
}

/** The dead letters read model and its handled state. */
export class DeadLetterRepository {
  constructor(private readonly em: EntityManager) {}

  async insert(rows: NewDeadLetter[]): Promise<void> {
    for (const r of rows) {
      await this.em.query(
        `INSERT INTO ${TABLE} (dlq_seq, dlq_subject, service, consumer, code, category, reason, original_subject,
           original_stream, original_seq, deliveries, headers, body, dead_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14) ON CONFLICT (dlq_seq) DO NOTHING`,
        [
          r.dlq_seq,
          r.dlq_subject,
          r.service,
          r.consumer,
          r.code,
          r.category,
          r.reason,
          r.original_subject,
          r.original_stream,
          r.original_seq,
          r.deliveries,
          JSON.stringify(r.headers),
          r.body,
          r.dead_at,
        ],
      );
    }
  }

  async list(f: DeadLetterFilter): Promise<DeadLetterSummary[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (f.service) add('service = ?', f.service);
    if (f.consumer) add('consumer = ?', f.consumer);
    if (f.code) add('code = ?', f.code);
    if (f.reason) {
      if (CATEGORIES.includes(f.reason)) add('category = ?', f.reason);
      else add(`reason ILIKE ?`, `%${f.reason.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    if (f.since) add('dead_at >= ?', f.since);
    if (f.status) add('status = ?', f.status);
    if (f.before !== undefined) add('dlq_seq < ?', f.before);
    args.push(f.limit);
    const rows: Row[] = await this.em.query(
      `SELECT ${SUMMARY_COLUMNS} FROM ${TABLE} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY dlq_seq DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(toSummary);
  }

  /** One dead letter; `lock` holds its row until the transaction ends (redrive and discard). */
  async get(dlqSeq: number, lock = false): Promise<DeadLetter | undefined> {
    const rows: Row[] = await this.em.query(
      `SELECT ${SUMMARY_COLUMNS}, headers, body FROM ${TABLE} WHERE dlq_seq = $1 ${lock ? 'FOR UPDATE' : ''}`,
      [dlqSeq],
    );
    const r = rows[0];
    if (!r) return undefined;
    return { ...toSummary(r), headers: r.headers as Record<string, string>, body: r.body as Buffer };
  }

  async markHandled(
    dlqSeq: number,
    h: {
      status: Exclude<DeadLetterStatus, 'pending'>;
      by: string;
      byId: string;
      at: Date;
      note?: string;
      redriveMsgId?: string;
      redriveSeq?: number;
    },
  ): Promise<void> {
    await this.em.query(
      `UPDATE ${TABLE} SET status = $2, handled_by = $3, handled_by_id = $4, handled_at = $5, note = $6,
         redrive_msg_id = $7, redrive_seq = $8 WHERE dlq_seq = $1`,
      [dlqSeq, h.status, h.by, h.byId, h.at, h.note ?? null, h.redriveMsgId ?? null, h.redriveSeq ?? null],
    );
  }
}
