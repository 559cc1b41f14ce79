import type { EntityManager } from 'typeorm';
import type { Decision } from '@warden/contracts';
import type { ProjectedEvent, ProjectionHandler } from '@warden/persistence';

const COLUMNS = [
  'run_id',
  'outcome',
  'tier',
  'mode',
  'rule_ids',
  'reasons',
  'policy_version',
  'policy_digest',
  'input_hash',
  'trace_id',
  'decided_at',
  'event_id',
] as const;

/**
 * `policy.decisions`: one row per run, the first decision the log holds for it (the one the
 * orchestrator acts on). Idempotent, so a replayed batch changes nothing.
 */
export class DecisionProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    const rows: unknown[][] = [];
    for (const { env } of events) {
      if (env.type !== 'decision_made' || !env.run_id) continue;
      const d: Decision = env.data;
      rows.push([
        env.run_id,
        d.outcome,
        d.tier,
        d.mode,
        d.rule_ids,
        JSON.stringify(d.reasons),
        d.policy_version,
        d.policy_digest,
        d.input_hash,
        d.trace_id,
        d.evaluated_at,
        env.id,
      ]);
    }
    if (!rows.length) return;
    const values = rows.map((_, r) => `(${COLUMNS.map((_c, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`);
    await em.query(
      `INSERT INTO "policy".decisions (${COLUMNS.join(', ')}) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`,
      rows.flat(),
    );
  }

  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM "policy".decisions');
  }
}
