import type { EntityManager } from 'typeorm';
import type { AnyEnvelope, RunStatus } from '@warden/contracts';
import { uuidArrayLiteral } from '@warden/persistence';
import type { RunState } from '../domain/run.state';

interface RunRow {
  run_id: string;
  status: RunStatus;
  agent_id: string;
  agent_role: string;
  session_id: string | null;
  action: RunState['action'];
  decision: RunState['decision'] | null;
  decision_event_id: string | null;
  approval: RunState['approval'] | null;
  result: RunState['result'] | null;
  executor: 'client' | 'worker' | null;
  grant: RunState['grant'] | null;
  trace_id: string;
  created_at: Date;
  updated_at: Date;
  last_seq: string;
}

/** One event as stored in the run's timeline. */
export interface RunEventRow {
  id: string;
  run_id: string;
  seq: number;
  type: string;
  occurred_at: string;
  envelope: AnyEnvelope;
  /** Why the event was recorded but not acted on (e.g. a forged decision). */
  note?: string;
}

/** The run as the REST API shows it. */
export interface RunView {
  run_id: string;
  status: RunStatus;
  agent: { id: string; role: string };
  session_id: string | null;
  action: unknown;
  decision: unknown;
  approval: unknown;
  result: unknown;
  /** Who executes: `worker` (default) or `client` (bring your own executor, with its grant once issued). */
  executor?: 'client';
  grant?: { id: string; expires_at: string; reported: boolean };
  trace_id: string;
  created_at: string;
  updated_at: string;
}

export interface RunFilter {
  status?: RunStatus;
  agent_id?: string;
  session_id?: string;
  limit: number;
  /** Keyset cursor: strictly older than (created_at, run_id). */
  before?: { createdAt: string; runId: string };
}

const COLUMNS = `run_id, status, agent_id, agent_role, session_id, action, decision, decision_event_id, approval, result,
  executor, "grant", trace_id, created_at, updated_at, last_seq`;

function toState(r: RunRow): RunState {
  return {
    runId: r.run_id,
    status: r.status,
    agent: { id: r.agent_id, role: r.agent_role },
    sessionId: r.session_id ?? undefined,
    action: r.action,
    traceId: r.trace_id,
    decision: r.decision ?? undefined,
    decisionEventId: r.decision_event_id ?? undefined,
    approval: r.approval ?? undefined,
    result: r.result ?? undefined,
    ...(r.executor === 'client' ? { executor: 'client' as const } : {}),
    ...(r.grant ? { grant: r.grant } : {}),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

function toView(r: RunRow): RunView {
  return {
    run_id: r.run_id,
    status: r.status,
    agent: { id: r.agent_id, role: r.agent_role },
    session_id: r.session_id,
    action: r.action,
    decision: r.decision,
    approval: r.approval
      ? {
          id: r.approval.id,
          status: r.approval.status,
          tier: r.approval.tier,
          required_votes: r.approval.requiredVotes,
          expires_at: r.approval.expiresAt,
          operators: r.approval.operators,
        }
      : null,
    result: r.result,
    ...(r.executor === 'client' ? { executor: 'client' as const } : {}),
    ...(r.grant ? { grant: { id: r.grant.id, expires_at: r.grant.expiresAt, reported: !!r.grant.reportId } } : {}),
    trace_id: r.trace_id,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

/** All orchestrator run I/O: batch loads and saves for the projection, reads for the API. */
export class RunRepository {
  constructor(private readonly em: EntityManager) {}

  async loadStates(runIds: string[]): Promise<Map<string, RunState>> {
    if (runIds.length === 0) return new Map();
    const rows: RunRow[] = await this.em.query(
      `SELECT ${COLUMNS} FROM orchestrator.runs WHERE run_id = ANY($1::uuid[])`,
      [runIds],
    );
    return new Map(rows.map((r) => [r.run_id, toState(r)]));
  }

  /**
   * What a batch of the ordered pass starts from, in one round trip: the state of each of its runs
   * and which of its event ids are already in a timeline (duplicates that slipped past the broker).
   */
  async loadBatch(
    runIds: string[],
    eventIds: string[],
  ): Promise<{ states: Map<string, RunState>; stored: Set<string> }> {
    if (runIds.length === 0 && eventIds.length === 0) return { states: new Map(), stored: new Set() };
    const [row] = (await this.em.query(loadBatchSql('$1::uuid[]', '$2::uuid[]'), [runIds, eventIds])) as [LoadedBatch];
    return loadedBatch(row);
  }

  /**
   * {@link loadBatch} as one statement with its ids inlined (escaped), for the projection to send with
   * `BEGIN` (ProjectionHandler.preload); {@link loadedBatch} reads its one row.
   */
  static loadBatchText(runIds: string[], eventIds: string[]): string {
    return loadBatchSql(uuidArrayLiteral(runIds), uuidArrayLiteral(eventIds));
  }

  /**
   * Writes a batch of the ordered pass in one statement: the timeline rows (an id already stored is
   * left alone), the upserted states of the runs that have seen `task_received`, and a `pg_notify`
   * on `channel` for each run in `notify` (delivered when the transaction commits).
   */
  async writeBatch(
    rows: RunEventRow[],
    states: { state: RunState; lastSeq: number }[],
    notify: { channel: string; runIds: string[] },
  ): Promise<void> {
    const runs = states
      .filter(({ state }) => state.status !== 'none')
      .map(({ state: s, lastSeq }) => ({
        run_id: s.runId,
        status: s.status,
        agent_id: s.agent!.id,
        agent_role: s.agent!.role,
        session_id: s.sessionId ?? null,
        action: s.action,
        decision: s.decision ?? null,
        decision_event_id: s.decisionEventId ?? null,
        approval: s.approval ?? null,
        result: s.result ?? null,
        executor: s.executor ?? null,
        grant: s.grant ?? null,
        trace_id: s.traceId,
        created_at: s.createdAt,
        updated_at: s.updatedAt,
        last_seq: lastSeq,
      }));
    if (rows.length === 0 && runs.length === 0 && notify.runIds.length === 0) return;
    await this.em.query(
      `WITH events AS (
         INSERT INTO orchestrator.run_events (id, run_id, seq, type, occurred_at, envelope, note)
         SELECT x.id, x.run_id, x.seq, x.type, x.occurred_at, x.envelope, x.note
         FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, run_id uuid, seq bigint, type text, occurred_at timestamptz,
           envelope jsonb, note text)
         ON CONFLICT (id) DO NOTHING),
       states AS (
         INSERT INTO orchestrator.runs (${COLUMNS})
         SELECT ${COLUMNS} FROM jsonb_to_recordset($2::jsonb) AS x(run_id uuid, status text, agent_id text, agent_role text,
           session_id text, action jsonb, decision jsonb, decision_event_id uuid, approval jsonb, result jsonb, executor text,
           "grant" jsonb, trace_id text,
           created_at timestamptz, updated_at timestamptz, last_seq bigint)
         ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, decision = EXCLUDED.decision,
           decision_event_id = EXCLUDED.decision_event_id, approval = EXCLUDED.approval, result = EXCLUDED.result,
           "grant" = EXCLUDED."grant",
           updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq)
       SELECT pg_notify($3, r) FROM unnest($4::text[]) AS r`,
      [JSON.stringify(rows), JSON.stringify(runs), notify.channel, notify.runIds],
    );
  }

  async reset(): Promise<void> {
    await this.em.query('DELETE FROM orchestrator.run_events');
    await this.em.query('DELETE FROM orchestrator.runs');
  }

  async getState(runId: string): Promise<RunState | undefined> {
    return (await this.loadStates([runId])).get(runId);
  }

  async getView(
    runId: string,
  ): Promise<
    { run: RunView; events: AnyEnvelope[]; ignored: { id: string; type: string; reason: string }[] } | undefined
  > {
    const rows: RunRow[] = await this.em.query(`SELECT ${COLUMNS} FROM orchestrator.runs WHERE run_id = $1`, [runId]);
    if (rows.length === 0) return undefined;
    const events: { envelope: AnyEnvelope; note: string | null }[] = await this.em.query(
      'SELECT envelope, note FROM orchestrator.run_events WHERE run_id = $1 ORDER BY seq',
      [runId],
    );
    return {
      run: toView(rows[0]!),
      events: events.map((e) => e.envelope),
      ignored: events.flatMap((e) => (e.note ? [{ id: e.envelope.id, type: e.envelope.type, reason: e.note }] : [])),
    };
  }

  async list(f: RunFilter): Promise<RunView[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.status) add('status = ?', f.status);
    if (f.agent_id) add('agent_id = ?', f.agent_id);
    if (f.session_id) add('session_id = ?', f.session_id);
    if (f.before) {
      params.push(f.before.createdAt, f.before.runId);
      where.push(`(created_at, run_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(f.limit);
    const rows: RunRow[] = await this.em.query(
      `SELECT ${COLUMNS} FROM orchestrator.runs ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY created_at DESC, run_id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toView);
  }
}

/** One timeline entry after a given position (for the run stream). */
export interface RunEventAfter {
  seq: number;
  envelope: AnyEnvelope;
  note: string | null;
}

/** Reads for `GET /v1/runs/:run_id/stream`: the run as the API shows it, and its timeline after a position. */
export class RunStreamReader {
  constructor(private readonly em: EntityManager) {}

  async run(runId: string): Promise<RunView | undefined> {
    const rows: RunRow[] = await this.em.query(`SELECT ${COLUMNS} FROM orchestrator.runs WHERE run_id = $1`, [runId]);
    return rows[0] ? toView(rows[0]) : undefined;
  }

  async eventsAfter(runId: string, seq: number): Promise<RunEventAfter[]> {
    const rows: { seq: string; envelope: AnyEnvelope; note: string | null }[] = await this.em.query(
      'SELECT seq, envelope, note FROM orchestrator.run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT 500',
      [runId, seq],
    );
    return rows.map((r) => ({ seq: Number(r.seq), envelope: r.envelope, note: r.note }));
  }
}

/** A client-executed run whose grant passed its deadline unreported. */
export interface ExpiredGrant {
  run_id: string;
  trace_id: string;
  grant: NonNullable<RunState['grant']>;
}

/**
 * The grant sweeper's question: running client runs whose grant expired more than `graceMs` ago and
 * was never reported.
 * @example await expiredGrants(ds.manager, new Date(), 2000, 100)
 */
export async function expiredGrants(
  em: EntityManager,
  now: Date,
  graceMs: number,
  limit: number,
): Promise<ExpiredGrant[]> {
  return em.query(
    `SELECT run_id, trace_id, "grant" FROM orchestrator.runs
     WHERE status = 'running' AND "grant" IS NOT NULL AND ("grant"->>'reportId') IS NULL
       AND ("grant"->>'expiresAt') < $1
     ORDER BY ("grant"->>'expiresAt') LIMIT $2`,
    [new Date(now.getTime() - graceMs).toISOString(), limit],
  );
}

/** The one row {@link loadBatchSql} answers: the runs as JSON, and the ids of the events already stored. */
export interface LoadedBatch {
  runs: (Omit<RunRow, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string })[];
  stored: string[];
}

/** The batch load: the runs of `runs` and which of `events` the timeline already holds (array expressions). */
function loadBatchSql(runs: string, events: string): string {
  return `SELECT (SELECT coalesce(json_agg(r), '[]'::json) FROM (SELECT ${COLUMNS} FROM orchestrator.runs
                 WHERE run_id = ANY(${runs})) r) AS runs,
              (SELECT coalesce(array_agg(id::text), '{}') FROM orchestrator.run_events WHERE id = ANY(${events})) AS stored`;
}

/** The states and stored ids of a {@link LoadedBatch} row. */
export function loadedBatch(row: LoadedBatch): { states: Map<string, RunState>; stored: Set<string> } {
  // json_agg gives timestamps as text: the same instants as the driver's Dates
  const states = row.runs.map((r) =>
    toState({ ...r, created_at: new Date(r.created_at), updated_at: new Date(r.updated_at) }),
  );
  return { states: new Map(states.map((st) => [st.runId, st])), stored: new Set(row.stored) };
}
