import type { DataSource, EntityManager } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection, type ProjectedEvent, type ProjectionHandler } from '@warden/persistence';

const CLOSING = { approval_granted: 'granted', approval_rejected: 'rejected', approval_expired: 'expired' } as const;

/**
 * The approval inbox read model: one row per `approval_requested`, closed by granted/rejected/expired.
 * (Votes, quorum, REST, Slack and expiry are the approvals issue; this is the row they will act on.)
 */
export class ApprovalProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    for (const { env } of events) {
      if (env.type === 'approval_requested') {
        const d = env.data;
        await em.query(
          `INSERT INTO approvals.approvals (id, run_id, tier, status, required_votes, agent, session_id, action, decision, trace_id, expires_at, requested_at)
           VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
          [
            d.approval_id,
            env.run_id,
            d.tier,
            d.required_votes,
            d.agent,
            d.session_id ?? null,
            d.action,
            d.decision,
            env.trace_id,
            d.expires_at,
            env.occurred_at,
          ],
        );
      } else if (
        env.type === 'approval_granted' ||
        env.type === 'approval_rejected' ||
        env.type === 'approval_expired'
      ) {
        await em.query(
          `UPDATE approvals.approvals SET status = $2, closed_at = $3, operators = $4 WHERE id = $1 AND status = 'pending'`,
          [env.data.approval_id, CLOSING[env.type], env.occurred_at, env.data.operators],
        );
      }
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.approvals');
  }
}

/** Every projection the approvals service runs (also used by `npm run projections:rebuild`). */
export function approvalsProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher: Publisher,
): CheckpointedProjection[] {
  // one ordered pass over all run events: NATS 2.9 has no multi-filter consumers
  return [
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'approvals',
        schema: 'approvals',
        service: 'approvals',
        stream: subjects.streams.events,
        filterSubject: subjects.runEvents,
        eventTypes: ['approval_requested', ...Object.keys(CLOSING)],
      },
      new ApprovalProjection(),
    ),
  ];
}
