import { perTypeProjections } from './per-type';
import type { DataSource, EntityManager } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection, type ProjectedEvent, type ProjectionHandler } from '@warden/persistence';
import { reviewProjections } from '../../review/projections/review.projection';
import { PlanItemsProjection, isPlanItem } from '../../plan/projections/plan-items.projection';

const CLOSING = { approval_granted: 'granted', approval_rejected: 'rejected', approval_expired: 'expired' } as const;
type ClosingType = keyof typeof CLOSING;

/** How long run endings wait for company: up to this long before a pending approval of an ended run closes. */
const RUN_ENDINGS_LINGER_MS = 100;

/**
 * The approval inbox: one row per `approval_requested` (`approvals.approvals`): the row votes, expiry
 * and the APIs act on.
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
        `INSERT INTO approvals.approval_closures (id, status, closed_at, operators, stream_seq, reason)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at,
           operators = EXCLUDED.operators, stream_seq = EXCLUDED.stream_seq, reason = EXCLUDED.reason
         WHERE EXCLUDED.stream_seq < approval_closures.stream_seq`,
        [
          env.data.approval_id,
          CLOSING[this.type],
          env.occurred_at,
          env.data.operators,
          msg.seq,
          env.data.reason ?? null,
        ],
      );
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.approval_closures WHERE status = $1', [CLOSING[this.type]]);
  }
}

/**
 * Votes as the log holds them. The vote command writes the same row in its own transaction; this
 * projection makes the table rebuildable and catches a vote whose command crashed after publishing.
 */
export class ApprovalVoteProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    const rows = events.flatMap(({ env }) =>
      env.type === 'approval_vote'
        ? [
            {
              approval_id: env.data.approval_id,
              operator_id: env.data.operator_id ?? env.data.operator,
              operator: env.data.operator,
              vote: env.data.vote,
              comment: env.data.comment ?? null,
              channel: env.data.channel ?? null,
              standing: env.data.standing ?? null,
              at: env.occurred_at,
              event_id: env.id,
            },
          ]
        : [],
    );
    if (rows.length === 0) return;
    await em.query(
      `INSERT INTO approvals.votes (approval_id, operator_id, operator, vote, comment, channel, standing, at, event_id)
       SELECT approval_id, operator_id, operator, vote, comment, channel, standing, at, event_id
       FROM jsonb_to_recordset($1::jsonb) AS x(approval_id uuid, operator_id text, operator text, vote text, comment text,
         channel text, standing jsonb, at timestamptz, event_id uuid)
       ON CONFLICT (approval_id, operator_id) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.votes');
  }
}

/** Operators (for `GET /v1/operators`): a fold of `operator_created` / `operator_revoked`. No token hashes. */
export class OperatorProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    for (const { env } of events) {
      if (env.type === 'operator_created') {
        const d = env.data;
        await em.query(
          `INSERT INTO approvals.operators (id, name, roles, max_tier, slack_user_id, created_at, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
          [d.operator_id, d.name, d.roles, d.max_tier, d.slack_user_id ?? null, env.occurred_at, d.created_by],
        );
      } else if (env.type === 'operator_revoked') {
        await em.query(
          `UPDATE approvals.operators SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL`,
          [env.data.operator_id, env.occurred_at, env.data.by],
        );
      }
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.operators');
  }
}

/** Terminal run events (not the approval closures, which are this service's own) and the run status each ends in. */
export const RUN_ENDINGS = {
  run_cancelled: 'cancelled',
  run_denied: 'denied',
  run_failed: 'failed',
  run_succeeded: 'succeeded',
} as const;
type RunEndingType = keyof typeof RUN_ENDINGS;

/**
 * Runs that ended (`approvals.run_endings`): the first terminal run event per run. An approval of an
 * ended run refuses votes at once, and the sweeper closes it (see ApprovalService.closeForEndedRun).
 */
export class RunEndingProjection implements ProjectionHandler {
  constructor(private readonly type: RunEndingType) {}

  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    const rows = events.flatMap(({ env, msg }) =>
      env.type === this.type && env.run_id
        ? [
            {
              run_id: env.run_id,
              status: RUN_ENDINGS[this.type],
              reason: endingReason(env.data as Record<string, unknown>),
              occurred_at: env.occurred_at,
              stream_seq: msg.seq,
            },
          ]
        : [],
    );
    if (rows.length === 0) return;
    // the earliest ending in the stream wins, whichever consumer sees it first
    await em.query(
      `INSERT INTO approvals.run_endings (run_id, status, reason, occurred_at, stream_seq)
       SELECT run_id, status, reason, occurred_at, stream_seq
       FROM jsonb_to_recordset($1::jsonb) AS x(run_id uuid, status text, reason text, occurred_at timestamptz, stream_seq bigint)
       ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
         occurred_at = EXCLUDED.occurred_at, stream_seq = EXCLUDED.stream_seq
       WHERE EXCLUDED.stream_seq < run_endings.stream_seq`,
      [JSON.stringify(rows)],
    );
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.run_endings WHERE status = $1', [RUN_ENDINGS[this.type]]);
  }
}

/** The words a terminal run event gives for its ending (who cancelled and why; the denial's reasons). */
function endingReason(data: Record<string, unknown>): string | null {
  const parts: string[] = [];
  if (typeof data.by === 'string' && data.by) parts.push(`by ${data.by}`);
  if (typeof data.reason === 'string' && data.reason) parts.push(data.reason);
  if (Array.isArray(data.reasons)) parts.push(data.reasons.filter((r) => typeof r === 'string').join('; '));
  const text = parts.filter(Boolean).join(': ');
  return text ? text.slice(0, 500) : null;
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
  const perType = perTypeProjections(ds, bus, subjects, publisher);
  return [
    perType('requests', 'approval_requested', new ApprovalRequestProjection()),
    perType('votes', 'approval_vote', new ApprovalVoteProjection()),
    // plan membership: which run is which item of which plan (see plan/)
    // every run is received, few are plan items: the others cost no transaction. The Slack consumer
    // tells a lone run by its verified task_received (see SlackPlanNotifier.planOf) and waits for this
    // checkpoint only for a receipt that names a plan, whose position is stored with its batch
    perType('plan-items', 'task_received', new PlanItemsProjection(), undefined, isPlanItem),
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'operators',
        schema: 'approvals',
        service: 'approvals',
        stream: subjects.streams.events,
        filterSubject: subjects.directoryAll,
        eventTypes: ['operator_created', 'operator_revoked'],
      },
      new OperatorProjection(),
    ),
    ...reviewProjections(ds, bus, subjects, publisher),
    ...(Object.keys(CLOSING) as ClosingType[]).map((type) =>
      perType(`closures-${CLOSING[type]}`, type, new ApprovalClosureProjection(type)),
    ),
    ...(Object.keys(RUN_ENDINGS) as RunEndingType[]).map((type) =>
      // every run ends, few have an approval to close (the sweeper closes a late one too): batch them
      perType(`run-endings-${RUN_ENDINGS[type]}`, type, new RunEndingProjection(type), RUN_ENDINGS_LINGER_MS),
    ),
  ];
}
