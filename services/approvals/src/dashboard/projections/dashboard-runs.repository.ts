import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { NON_TERMINAL_STATUSES, TERMINAL_STATUSES } from '@warden/contracts';
import { DATA_SOURCE } from '@warden/runtime';

export interface DashboardRun {
  run_id: string;
  status: string;
  agent: { id: string; role: string } | null;
  session_id: string | null;
  tool: string | null;
  outcome: string | null;
  tier: number | null;
  approval_id: string | null;
  trace_id: string;
  created_at: string;
  updated_at: string;
  last_event: string;
  event_count: number;
}

const COLUMNS = `run_id, status, agent, session_id, tool, outcome, tier, approval_id, trace_id,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at, last_event, event_count`;

/** Reads of the dashboard's run read model (`approvals.dashboard_*`). */
@Injectable()
export class DashboardRunsRepository {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  /** Active (non-terminal) or recent (any) runs, most recently changed first. */
  async list(view: 'active' | 'recent', limit: number): Promise<DashboardRun[]> {
    return view === 'active'
      ? this.ds.query(
          `SELECT ${COLUMNS} FROM approvals.dashboard_runs WHERE status = ANY($1::text[]) ORDER BY updated_at DESC LIMIT $2`,
          [[...NON_TERMINAL_STATUSES], limit],
        )
      : this.ds.query(`SELECT ${COLUMNS} FROM approvals.dashboard_runs ORDER BY updated_at DESC, run_id LIMIT $1`, [
          limit,
        ]);
  }

  async run(runId: string): Promise<{ run: DashboardRun; events: unknown[] } | undefined> {
    const rows: DashboardRun[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM approvals.dashboard_runs WHERE run_id = $1`,
      [runId],
    );
    if (!rows[0]) return undefined;
    const events: { envelope: unknown }[] = await this.ds.query(
      'SELECT envelope FROM approvals.dashboard_events WHERE run_id = $1 ORDER BY seq',
      [runId],
    );
    return { run: rows[0], events: events.map((e) => e.envelope) };
  }

  /** Forgets finished runs last changed before `before` (the event log keeps them). */
  async prune(before: Date): Promise<number> {
    return this.ds.transaction(async (em) => {
      // TypeORM answers a DELETE … RETURNING with [rows, count]
      const [gone] = (await em.query(
        `DELETE FROM approvals.dashboard_runs WHERE status = ANY($1::text[]) AND updated_at < $2 RETURNING run_id`,
        [[...TERMINAL_STATUSES], before],
      )) as [{ run_id: string }[], number];
      if (gone.length)
        await em.query('DELETE FROM approvals.dashboard_events WHERE run_id = ANY($1::uuid[])', [
          gone.map((g) => g.run_id),
        ]);
      return gone.length;
    });
  }
}
