import type { DataSource, EntityManager } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection, type ProjectedEvent, type ProjectionHandler } from '@warden/persistence';

const CLOSING = { approval_granted: 'granted', approval_rejected: 'rejected', approval_expired: 'expired' } as const;
type ClosingType = keyof typeof CLOSING;

/**
 * The approval inbox: one row per `approval_requested` (`approvals.approvals`). Votes, quorum, REST,
 * Slack and expiry are the approvals issue; this is the row they will act on.
 */
export class ApprovalRequestProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    const rows = events.flatMap(({ env }) =>
      env.type === 'approval_requested'
        ? [
            {
              id: env.data.approval_id,
              run_id: env.run_id,
              tier: env.data.tier,
              required_votes: env.data.required_votes,
              agent: env.data.agent,
              session_id: env.data.session_id ?? null,
              action: env.data.action,
              decision: env.data.decision,
              trace_id: env.trace_id,
              expires_at: env.data.expires_at,
              requested_at: env.occurred_at,
            },
          ]
        : [],
    );
    if (rows.length === 0) return;
    await em.query(
      `INSERT INTO approvals.approvals (id, run_id, tier, required_votes, agent, session_id, action, decision, trace_id, expires_at, requested_at)
       SELECT id, run_id, tier, required_votes, agent, session_id, action, decision, trace_id, expires_at, requested_at
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, run_id uuid, tier int, required_votes int, agent jsonb, session_id text,
         action jsonb, decision jsonb, trace_id text, expires_at timestamptz, requested_at timestamptz)
       ON CONFLICT (id) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.approvals');
  }
}

/**
 * How approvals closed (`approvals.approval_closures`). Independent of the order in which the request
 * and closure consumers run: the earliest closure in the stream wins, whichever consumer sees it first.
 */
export class ApprovalClosureProjection implements ProjectionHandler {
  constructor(private readonly type: ClosingType) {}

  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    for (const { env, msg } of events) {
      if (env.type !== this.type) continue;
      await em.query(
        `INSERT INTO approvals.approval_closures (id, status, closed_at, operators, stream_seq) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at,
           operators = EXCLUDED.operators, stream_seq = EXCLUDED.stream_seq
         WHERE EXCLUDED.stream_seq < approval_closures.stream_seq`,
        [env.data.approval_id, CLOSING[this.type], env.occurred_at, env.data.operators, msg.seq],
      );
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.approval_closures WHERE status = $1', [CLOSING[this.type]]);
  }
}

/**
 * Every projection the approvals service runs (also used by `npm run projections:rebuild`): one
 * ordered consumer per event type, so the service reads only approval events, never the whole log.
 */
export function approvalsProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher: Publisher,
): CheckpointedProjection[] {
  const spec = (name: string, type: string) => ({
    name,
    schema: 'approvals',
    service: 'approvals',
    stream: subjects.streams.events,
    filterSubject: subjects.eventsOfType(type),
  });
  return [
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      spec('requests', 'approval_requested'),
      new ApprovalRequestProjection(),
    ),
    ...(Object.keys(CLOSING) as ClosingType[]).map(
      (type) =>
        new CheckpointedProjection(
          ds,
          bus,
          subjects,
          publisher,
          spec(`closures-${CLOSING[type]}`, type),
          new ApprovalClosureProjection(type),
        ),
    ),
  ];
}
