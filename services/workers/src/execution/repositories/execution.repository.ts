import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
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
}

export interface NewClaim {
  runId: string;
  commandId: string;
  action: Action;
  traceId: string;
  workerId: string;
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

/** Raised when another worker is executing the run right now; the message is retried later. */
export class RunBusyError extends TransientError {}

const COLUMNS =
  'run_id, command_id, tool, action, status, attempt, result, trace_id, worker_id, started_at, finished_at';

/** All Postgres I/O of the workers service. */
@Injectable()
export class ExecutionRepository {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  /**
   * Runs `fn` holding the run's execution lock: a transaction-scoped advisory lock, so it is released
   * when the worker finishes or when its connection dies with it. While held, a `started` claim by
   * anyone else means that worker is gone.
   */
  async withRunLock<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const qr = this.ds.createQueryRunner();
    await qr.connect();
    try {
      await qr.startTransaction();
      const rows = (await qr.query('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked', [
        `workers-run:${runId}`,
      ])) as { locked: boolean }[];
      if (!rows[0]?.locked) throw new RunBusyError(`run ${runId} is being executed by another worker`);
      return await fn();
    } finally {
      if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
      await qr.release();
    }
  }

  async find(runId: string): Promise<ExecutionRow | undefined> {
    const rows = (await this.ds.query(`SELECT ${COLUMNS} FROM "workers".executions WHERE run_id = $1`, [
      runId,
    ])) as ExecutionRow[];
    return rows[0];
  }

  /** Inserts the `started` claim (committed on return); undefined if the run is already claimed. */
  async claim(c: NewClaim): Promise<ExecutionRow | undefined> {
    const rows = (await this.ds.query(
      `INSERT INTO "workers".executions (run_id, command_id, tool, action, status, attempt, trace_id, worker_id)
       VALUES ($1, $2, $3, $4, 'started', 1, $5, $6)
       ON CONFLICT (run_id) DO NOTHING
       RETURNING ${COLUMNS}`,
      [c.runId, c.commandId, c.action.tool, JSON.stringify(c.action), c.traceId, c.workerId],
    )) as ExecutionRow[];
    return rows[0];
  }

  /** Takes over a `started` claim whose worker is gone, for another attempt. */
  async restart(runId: string, attempt: number, workerId: string): Promise<ExecutionRow> {
    const rows = (await this.ds.query(
      `UPDATE "workers".executions SET attempt = $2, worker_id = $3, started_at = now()
       WHERE run_id = $1 AND status = 'started' RETURNING ${COLUMNS}`,
      [runId, attempt, workerId],
    )) as [ExecutionRow[], number];
    const row = rows[0][0];
    if (!row) throw new TransientError(`run ${runId} changed while being taken over`);
    return row;
  }

  /** Removes a claim under which nothing was executed (its `run_started` could not be published). */
  async unclaim(runId: string, commandId: string): Promise<void> {
    await this.ds.query(
      `DELETE FROM "workers".executions WHERE run_id = $1 AND command_id = $2 AND status = 'started'`,
      [runId, commandId],
    );
  }

  /** Records the outcome of a `started` claim. */
  async finish(runId: string, status: 'succeeded' | 'failed', result: RunResult): Promise<ExecutionRow> {
    const rows = (await this.ds.query(
      `UPDATE "workers".executions SET status = $2, result = $3, finished_at = now()
       WHERE run_id = $1 AND status = 'started' RETURNING ${COLUMNS}`,
      [runId, status, JSON.stringify(result)],
    )) as [ExecutionRow[], number];
    const row = rows[0][0];
    if (!row) throw new TransientError(`run ${runId} was not in status started when finishing`);
    return row;
  }

  /** Records a refused command once per stream message; true if this call recorded it. */
  async recordRefusal(r: Refusal): Promise<boolean> {
    const rows = (await this.ds.query(
      `INSERT INTO "workers".refusals (run_id, command_id, role, reason, code, detail, subject, stream_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (subject, stream_seq) DO NOTHING RETURNING id`,
      [r.runId, r.commandId, r.role, r.reason, r.code, r.detail.slice(0, 2000), r.subject, r.streamSeq],
    )) as unknown[];
    return rows.length > 0;
  }
}
