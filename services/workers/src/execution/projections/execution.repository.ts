import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import type { Action, RunResult } from '@warden/contracts';
import { TransientError } from '@warden/kernel';
import { DATA_SOURCE } from '@warden/runtime';

/** A run's row in `workers.executions`: the claim that makes execution at-most-once. */
export interface ExecutionRow {
  run_id: string;
  command_id: string;
  tool: string;
  action: Action;
  status: 'started' | 'succeeded' | 'failed';
  attempt: number;
  result: RunResult | null;
  trace_id: string;
  worker_id: string;
  started_at: Date;
  finished_at: Date | null;
  /** Stream sequence of the claiming command message (null for claims from before it was kept). */
  stream_seq: string | null;
  /** When the tool of this attempt began (null: claimed, not begun; see {@link ExecutionRepository.begin}). */
  began_at: Date | null;
}

export interface NewClaim {
  runId: string;
  commandId: string;
  action: Action;
  traceId: string;
  streamSeq: number;
  /** Claimed already finished `failed` with this result (a run refused without executing anything). */
  result?: RunResult;
}

/** A `started` claim whose worker is gone, taken over for another attempt. */
export interface Takeover {
  runId: string;
  attempt: number;
}

export interface Outcome {
  runId: string;
  status: 'succeeded' | 'failed';
  result: RunResult;
}

export interface Refusal {
  runId: string | null;
  commandId: string | null;
  role: string;
  reason: string;
  code: string;
  detail: string;
  subject: string;
  streamSeq: number;
}

/**
 * Per run (lower-case id): its row, or the error Postgres gave for that run's data alone. A run
 * missing from the map was not in the state the statement requires.
 */
export type RowsByRun = Map<string, ExecutionRow | Error>;

/** What a pg client answers a multi-statement query with (simple protocol: one result per statement). */
interface SimpleQueryClient {
  query(sql: string): Promise<unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Raised when another worker is executing the run right now; the message is retried later. */
export class RunBusyError extends TransientError {}

const COLUMN_NAMES = [
  'run_id',
  'command_id',
  'tool',
  'action',
  'status',
  'attempt',
  'result',
  'trace_id',
  'worker_id',
  'started_at',
  'finished_at',
  'stream_seq',
  'began_at',
];
const COLUMNS = COLUMN_NAMES.join(', ');
const E_COLUMNS = COLUMN_NAMES.map((c) => `e.${c}`).join(', ');

/**
 * All Postgres I/O of the workers service. Every method takes a whole batch and costs one round
 * trip (the lock connection two: lock and read, then release); a statement that Postgres rejects for one row's data is re-run row by row so that one bad
 * row fails only its own run.
 */
@Injectable()
export class ExecutionRepository {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  /**
   * Runs `fn` holding the execution lock of each run it could take at once, with those runs' claims
   * read AFTER the locks were taken. The locks are transaction-scoped advisory locks on one dedicated
   * connection, so they are released when the batch ends or when the connection dies with its
   * worker; while held, a `started` claim by anyone else means that worker is gone. Runs whose lock is
   * busy are left out of the set `fn` gets (and their claims with them).
   */
  async withRunLocks<T>(
    runIds: readonly string[],
    fn: (locked: ReadonlySet<string>, claims: Map<string, ExecutionRow>) => Promise<T>,
  ): Promise<T> {
    const ids = runIds.map((id) => id.toLowerCase());
    // the ids are inlined (one round trip needs the simple protocol); only exact uuids get there
    for (const id of ids) if (!UUID.test(id)) throw new Error(`not a run id: ${JSON.stringify(id.slice(0, 100))}`);
    const list = `ARRAY[${ids.map((id) => `'${id}'`).join(', ') || 'NULL'}]`;
    const qr = this.ds.createQueryRunner();
    const client = (await qr.connect()) as SimpleQueryClient;
    let broken: unknown;
    try {
      // one round trip; READ COMMITTED gives the last statement a snapshot taken after the locks
      const results = await client.query(
        `BEGIN;
         SELECT r AS run_id, pg_try_advisory_xact_lock(hashtextextended('workers-run:' || r, 0)) AS locked
         FROM unnest(${list}::text[]) AS r;
         SELECT ${COLUMNS} FROM "workers".executions WHERE run_id = ANY(${list}::uuid[]);`,
      );
      const [, locks, claims] = results as [
        unknown,
        { rows: { run_id: string; locked: boolean }[] },
        { rows: ExecutionRow[] },
      ];
      const locked = new Set(locks.rows.filter((r) => r.locked).map((r) => r.run_id));
      return await fn(locked, new Map(claims.rows.filter((r) => locked.has(r.run_id)).map((r) => [r.run_id, r])));
    } finally {
      await client.query('ROLLBACK').catch((err: unknown) => (broken = err ?? true));
      await release(qr, broken);
    }
  }

  /**
   * Inserts the `started` claims (or `failed` ones, for claims carrying a result) and takes over the `started` claims of gone workers, in one
   * statement committed on return (before anything runs). A new claim missing from the result was
   * claimed already; a takeover missing from it was no longer `started`.
   */
  async claim(claims: readonly NewClaim[], takeovers: readonly Takeover[], workerId: string): Promise<RowsByRun> {
    type Item = { claim?: NewClaim; takeover?: Takeover };
    const items: Item[] = [...claims.map((claim) => ({ claim })), ...takeovers.map((takeover) => ({ takeover }))];
    return this.perRunOnBadData(
      items,
      (i) => (i.claim ?? i.takeover)!.runId,
      async (subset) => {
        const news = subset.flatMap((i) =>
          i.claim
            ? [
                {
                  run_id: i.claim.runId,
                  command_id: i.claim.commandId,
                  action: i.claim.action,
                  trace_id: i.claim.traceId,
                  stream_seq: i.claim.streamSeq,
                  result: i.claim.result ?? null,
                },
              ]
            : [],
        );
        const olds = subset.flatMap((i) =>
          i.takeover ? [{ run_id: i.takeover.runId, attempt: i.takeover.attempt }] : [],
        );
        return (await this.ds.query(
          `WITH ins AS (
             INSERT INTO "workers".executions (run_id, command_id, tool, action, status, attempt, trace_id, worker_id, stream_seq,
                                               result, finished_at)
             SELECT x.run_id, x.command_id, x.action->>'tool', x.action,
                    CASE WHEN x.result IS NULL THEN 'started' ELSE 'failed' END, 1, x.trace_id, $3, x.stream_seq,
                    x.result, CASE WHEN x.result IS NULL THEN NULL ELSE now() END
             FROM jsonb_to_recordset($1::jsonb)
                  AS x(run_id uuid, command_id uuid, action jsonb, trace_id text, stream_seq bigint, result jsonb)
             ON CONFLICT (run_id) DO NOTHING
             RETURNING ${COLUMNS}
           ), upd AS (
             UPDATE "workers".executions e SET attempt = x.attempt, worker_id = $3, started_at = now(), began_at = NULL
             FROM jsonb_to_recordset($2::jsonb) AS x(run_id uuid, attempt integer)
             WHERE e.run_id = x.run_id AND e.status = 'started'
             RETURNING ${E_COLUMNS}
           )
           SELECT ${COLUMNS} FROM ins UNION ALL SELECT ${COLUMNS} FROM upd`,
          [JSON.stringify(news), JSON.stringify(olds), workerId],
        )) as ExecutionRow[];
      },
    );
  }

  /**
   * Marks the tools of these claims as begun, just before they run: only claims still `started` by
   * this worker at this attempt and not begun yet (a claim taken over by another worker is not, so
   * its tool is not run here). Returns the runs marked. Until marked, a claim whose worker dies is
   * handed to the next delivery as not begun.
   */
  async begin(runs: readonly { runId: string; attempt: number }[], workerId: string): Promise<Set<string>> {
    if (runs.length === 0) return new Set();
    const [rows] = (await this.ds.query(
      `UPDATE "workers".executions e SET began_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS x(run_id uuid, attempt integer)
       WHERE e.run_id = x.run_id AND e.attempt = x.attempt AND e.worker_id = $2 AND e.status = 'started'
         AND e.began_at IS NULL
       RETURNING e.run_id`,
      [JSON.stringify(runs.map((r) => ({ run_id: r.runId, attempt: r.attempt }))), workerId],
    )) as [{ run_id: string }[], number];
    return new Set(rows.map((r) => r.run_id));
  }

  /** Removes claims under which nothing was executed (their `run_started` could not be published). */
  async unclaim(claims: readonly { runId: string; commandId: string }[]): Promise<void> {
    if (claims.length === 0) return;
    await this.ds.query(
      `DELETE FROM "workers".executions e
       USING jsonb_to_recordset($1::jsonb) AS x(run_id uuid, command_id uuid)
       WHERE e.run_id = x.run_id AND e.command_id = x.command_id AND e.status = 'started'`,
      [JSON.stringify(claims.map((c) => ({ run_id: c.runId, command_id: c.commandId })))],
    );
  }

  /** Records the outcomes of `started` claims; a run missing from the result was not `started`. */
  async finish(outcomes: readonly Outcome[]): Promise<RowsByRun> {
    return this.perRunOnBadData(
      outcomes,
      (o) => o.runId,
      async (subset) => {
        // an UPDATE comes back as [rows, count]
        const [rows] = (await this.ds.query(
          `UPDATE "workers".executions e SET status = x.status, result = x.result, finished_at = now()
           FROM jsonb_to_recordset($1::jsonb) AS x(run_id uuid, status text, result jsonb)
           WHERE e.run_id = x.run_id AND e.status = 'started'
           RETURNING ${E_COLUMNS}`,
          [JSON.stringify(subset.map((o) => ({ run_id: o.runId, status: o.status, result: o.result })))],
        )) as [ExecutionRow[], number];
        return rows;
      },
    );
  }

  /**
   * Records refused commands, once per stream message; returns the `subject:seq` keys this call
   * recorded (a redelivered refusal is recorded by its first delivery only).
   */
  async recordRefusals(refusals: readonly Refusal[]): Promise<Set<string>> {
    if (refusals.length === 0) return new Set();
    const rows = (await this.ds.query(
      `INSERT INTO "workers".refusals (run_id, command_id, role, reason, code, detail, subject, stream_seq)
       SELECT x.run_id, x.command_id, x.role, x.reason, x.code, x.detail, x.subject, x.stream_seq
       FROM jsonb_to_recordset($1::jsonb) AS x(run_id text, command_id text, role text, reason text, code text,
                                               detail text, subject text, stream_seq bigint)
       ON CONFLICT (subject, stream_seq) DO NOTHING
       RETURNING subject, stream_seq`,
      [
        JSON.stringify(
          refusals.map((r) => ({
            run_id: r.runId && storable(r.runId),
            command_id: r.commandId && storable(r.commandId),
            role: r.role,
            reason: r.reason,
            code: r.code,
            detail: storable(r.detail.slice(0, 2000)),
            subject: r.subject,
            stream_seq: r.streamSeq,
          })),
        ),
      ],
    )) as { subject: string; stream_seq: string }[];
    return new Set(rows.map((r) => refusalKey(r.subject, r.stream_seq)));
  }

  /**
   * Runs `stmt` over all items at once; if Postgres rejects the data (e.g. a `\u0000` jsonb cannot
   * hold), over each item alone, so that only the runs whose own data is bad get an error.
   */
  private async perRunOnBadData<I>(
    items: readonly I[],
    runOf: (item: I) => string,
    stmt: (subset: readonly I[]) => Promise<ExecutionRow[]>,
  ): Promise<RowsByRun> {
    const out: RowsByRun = new Map();
    if (items.length === 0) return out;
    try {
      for (const r of await stmt(items)) out.set(r.run_id, r);
      return out;
    } catch (err) {
      if (!isBadData(err)) throw err;
      if (items.length === 1) return out.set(runOf(items[0]!).toLowerCase(), err as Error);
    }
    await Promise.all(
      items.map(async (item) => {
        try {
          for (const r of await stmt([item])) out.set(r.run_id, r);
        } catch (err) {
          if (!isBadData(err)) throw err;
          out.set(runOf(item).toLowerCase(), err as Error);
        }
      }),
    );
    return out;
  }
}

/** The key {@link ExecutionRepository.recordRefusals} reports a recorded message by. */
export function refusalKey(subject: string, seq: number | string): string {
  return `${subject}:${seq}`;
}

/** Data exceptions, integrity violations, size limits: retrying the same row cannot succeed. */
function isBadData(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

// Postgres cannot hold NUL or a lone surrogate; a refusal must still be recorded
function storable(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching NUL is the point
  return s.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\uFFFD');
}

/** Returns the connection to the pool, or destroys it if its transaction (and locks) may still be open. */
async function release(qr: QueryRunner, broken: unknown): Promise<void> {
  const pg = qr as QueryRunner & { releasePostgresConnection?: (err?: unknown) => Promise<void> };
  if (broken && pg.releasePostgresConnection) {
    await pg.releasePostgresConnection(broken instanceof Error ? broken : new Error('rollback failed'));
  } else {
    await qr.release();
  }
}
