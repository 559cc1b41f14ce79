import type { EntityManager } from 'typeorm';
import { sha256Canonical } from '@warden/kernel';
import type { ProjectedEvent, ProjectionHandler } from '@warden/persistence';

/** A `task_received` body (or envelope) that names a plan (`data.submission.plan`): what {@link PlanItemsProjection} keeps. */
export function isPlanItem(body: unknown): boolean {
  const plan = (body as { data?: { submission?: { plan?: unknown } } } | null)?.data?.submission?.plan;
  return plan !== undefined && plan !== null;
}

/**
 * Plan membership from `task_received` (signature verified by the projection before `apply`): one row
 * per item, in log order. A run joins a plan only if the slot (plan, index) is free and the plan's
 * first item named the same agent, session and size; anything else is judged (and approved) alone.
 */
export class PlanItemsProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    for (const { env } of events) {
      if (env.type !== 'task_received') continue;
      const s = env.data.submission;
      if (!s.plan || !env.run_id) continue;
      await em.query(
        `INSERT INTO approvals.plan_items (plan_id, idx, count, run_id, agent_id, agent, session_id, action, action_hash, intent, received_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
         WHERE NOT EXISTS (SELECT 1 FROM approvals.plan_items p WHERE p.plan_id = $1
           AND (p.agent_id <> $5 OR p.count <> $3 OR p.session_id IS DISTINCT FROM $7))
         ON CONFLICT DO NOTHING`,
        [
          s.plan.id,
          s.plan.index,
          s.plan.count,
          env.run_id,
          s.agent.id,
          JSON.stringify(s.agent),
          s.session_id ?? null,
          JSON.stringify(s.action),
          sha256Canonical(s.action),
          s.intent ?? null,
          env.occurred_at,
        ],
      );
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.plan_items');
  }
}
