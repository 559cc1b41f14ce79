import { perTypeProjections } from '../../approval/projections/per-type';
import type { DataSource, EntityManager } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import type { CheckpointedProjection, ProjectedEvent, ProjectionHandler } from '@warden/persistence';

/** Review items (`review_requested`, emitted by the orchestrator when a `review: true` run ends). */
export class ReviewRequestProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    for (const { env } of events) {
      if (env.type !== 'review_requested') continue;
      const d = env.data;
      await em.query(
        `INSERT INTO approvals.reviews (id, run_id, agent, session_id, action, result, outcome, rule_ids, trace_id, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
        [
          d.review_id,
          env.run_id,
          d.agent ? JSON.stringify(d.agent) : null,
          d.session_id ?? null,
          JSON.stringify(d.action),
          JSON.stringify(d.result),
          d.outcome ?? null,
          d.rule_ids ?? [],
          env.trace_id,
          env.occurred_at,
        ],
      );
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.reviews');
  }
}

/** Verdicts (`review_resolved`). Separate from the requests so the two consumers need no order. */
export class ReviewResolutionProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    for (const { env } of events) {
      if (env.type !== 'review_resolved') continue;
      const d = env.data;
      await em.query(
        `INSERT INTO approvals.review_resolutions (id, verdict, operator, comment, compensation_run_id, compensation_action, resolved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
        [
          d.review_id,
          d.verdict,
          d.operator,
          d.comment ?? null,
          d.compensation_run_id ?? null,
          d.compensation_action ? JSON.stringify(d.compensation_action) : null,
          env.occurred_at,
        ],
      );
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM approvals.review_resolutions');
  }
}

export function reviewProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher: Publisher,
): CheckpointedProjection[] {
  const perType = perTypeProjections(ds, bus, subjects, publisher);
  return [
    perType('reviews', 'review_requested', new ReviewRequestProjection()),
    perType('review-resolutions', 'review_resolved', new ReviewResolutionProjection()),
  ];
}
