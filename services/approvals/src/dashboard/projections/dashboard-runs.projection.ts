import type { DataSource, EntityManager } from 'typeorm';
import { TERMINAL_STATUSES, catchUpStatus, type AnyEnvelope, type RunStatus, type Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection, type ProjectedEvent, type ProjectionHandler } from '@warden/persistence';

/** What one batch changes about one run, folded in log order. */
export interface RunPatch {
  run_id: string;
  status: RunStatus | null;
  agent: unknown;
  session_id: string | null;
  tool: string | null;
  outcome: string | null;
  tier: number | null;
  approval_id: string | null;
  trace_id: string;
  first_at: string;
  last_at: string;
  last_event: string;
  count: number;
  /** The batch holds the run's `task_received`: only that creates a run row. */
  received: boolean;
}

/** Folds a batch's events into one patch per run (pure; unit-tested). */
export function foldRunPatches(envs: AnyEnvelope[]): RunPatch[] {
  const byRun = new Map<string, RunPatch>();
  for (const env of envs) {
    if (!env.run_id) continue;
    let p = byRun.get(env.run_id);
    if (!p) {
      p = {
        run_id: env.run_id,
        status: null,
        agent: null,
        session_id: null,
        tool: null,
        outcome: null,
        tier: null,
        approval_id: null,
        trace_id: env.trace_id,
        first_at: env.occurred_at,
        last_at: env.occurred_at,
        last_event: env.type,
        count: 0,
        received: false,
      };
      byRun.set(env.run_id, p);
    }
    p.count++;
    p.last_event = env.type;
    if (env.occurred_at > p.last_at) p.last_at = env.occurred_at;
    if (env.occurred_at < p.first_at) p.first_at = env.occurred_at;
    // a batch starts without the stored row's status (null): the SQL below keeps a stored terminal one
    p.status = catchUpStatus(p.status, env.type);
    switch (env.type) {
      case 'task_received':
        p.received = true;
        p.agent = env.data.submission.agent;
        p.session_id = env.data.submission.session_id ?? null;
        p.tool = env.data.submission.action.tool;
        break;
      case 'decision_made':
        p.outcome = env.data.outcome;
        p.tier = env.data.tier;
        break;
      case 'approval_requested':
        p.approval_id = env.data.approval_id;
        p.tier = env.data.tier;
        p.agent ??= env.data.agent;
        p.tool ??= env.data.action.tool;
        break;
      default:
        break;
    }
  }
  return [...byRun.values()];
}

/**
 * The dashboard's runs: a summary per run (`approvals.dashboard_runs`) and its timeline
 * (`approvals.dashboard_events`, every event in log order). One ordered consumer over
 * `warden.events.run.>`; each batch is a few multi-row statements. Only `task_received` opens a
 * run: an event for a run never received (a refused forged command, a late event after the run was
 * pruned) is left out, so it cannot leave a phantom active run that is never pruned.
 */
export class DashboardRunsProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    const folded = foldRunPatches(events.map((e) => e.env));
    if (folded.length === 0) return;
    const patches = JSON.stringify(folded);
    const recordset = `jsonb_to_recordset($1::jsonb) AS x(run_id uuid, status text, agent jsonb, session_id text, tool text,
      outcome text, tier int, approval_id uuid, trace_id text, first_at timestamptz, last_at timestamptz, last_event text,
      count int, received boolean)`;
    await em.query(
      `INSERT INTO approvals.dashboard_runs (run_id, status, trace_id, created_at, updated_at, last_event)
       SELECT run_id, 'received', trace_id, first_at, first_at, last_event FROM ${recordset}
       WHERE x.received
       ON CONFLICT (run_id) DO NOTHING`,
      [patches],
    );
    const rows = events.flatMap(({ env, msg }) =>
      env.run_id
        ? [
            {
              run_id: env.run_id,
              seq: msg.seq,
              id: env.id,
              type: env.type,
              occurred_at: env.occurred_at,
              envelope: env,
            },
          ]
        : [],
    );
    await em.query(
      `INSERT INTO approvals.dashboard_events (run_id, seq, id, type, occurred_at, envelope)
       SELECT x.run_id, x.seq, x.id, x.type, x.occurred_at, x.envelope
       FROM jsonb_to_recordset($1::jsonb) AS x(run_id uuid, seq bigint, id uuid, type text, occurred_at timestamptz, envelope jsonb)
       WHERE EXISTS (SELECT 1 FROM approvals.dashboard_runs r WHERE r.run_id = x.run_id)
       ON CONFLICT (run_id, seq) DO NOTHING`,
      [JSON.stringify(rows)],
    );
    await em.query(
      `UPDATE approvals.dashboard_runs r SET
         status = CASE WHEN r.status = ANY($2::text[]) OR x.status IS NULL THEN r.status ELSE x.status END,
         agent = COALESCE(r.agent, x.agent),
         session_id = COALESCE(r.session_id, x.session_id),
         tool = COALESCE(r.tool, x.tool),
         outcome = COALESCE(x.outcome, r.outcome),
         tier = COALESCE(x.tier, r.tier),
         approval_id = COALESCE(x.approval_id, r.approval_id),
         created_at = LEAST(r.created_at, x.first_at),
         updated_at = GREATEST(r.updated_at, x.last_at),
         last_event = x.last_event,
         event_count = r.event_count + x.count
       FROM ${recordset} WHERE r.run_id = x.run_id`,
      [patches, [...TERMINAL_STATUSES]],
    );
  }

  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.dashboard_events');
    await em.query('DELETE FROM approvals.dashboard_runs');
  }
}

/** The dashboard's projections (also used by `npm run projections:rebuild`); none when `DASHBOARD_RUNS=false`. */
export function dashboardProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher: Publisher,
  enabled = true,
): CheckpointedProjection[] {
  if (!enabled) return [];
  return [
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'dashboard-runs',
        schema: 'approvals',
        service: 'approvals',
        stream: subjects.streams.events,
        filterSubject: subjects.runEvents,
        // a screen may lag a quarter second (the live stream is separate); many events per transaction
        lingerMs: 250,
        maxBatch: 2000,
        // every event of every run: read in rounds, not woken by each
        rounds: true,
      },
      new DashboardRunsProjection(),
    ),
  ];
}
