import type { EntityManager } from 'typeorm';
import type { Decision } from '@warden/contracts';
import type { ProjectedEvent, ProjectionHandler } from '@warden/persistence';

/** One `policy.decisions` row, as the JSON object `jsonb_to_recordset` reads. */
interface DecisionRow {
  run_id: string;
  outcome: string;
  tier: number;
  mode: string;
  rule_ids: string[];
  reasons: string[];
  policy_version: string;
  policy_digest: string;
  input_hash: string;
  trace_id: string;
  decided_at: string;
  event_id: string;
}

// one parameter whatever the batch size: no bind-parameter limit, and the same statement text every time
const INSERT_DECISIONS = `
INSERT INTO "policy".decisions
  (run_id, outcome, tier, mode, rule_ids, reasons, policy_version, policy_digest, input_hash, trace_id, decided_at, event_id)
SELECT run_id, outcome, tier, mode, rule_ids, reasons, policy_version, policy_digest, input_hash, trace_id, decided_at, event_id
FROM jsonb_to_recordset($1::jsonb) AS x(
  run_id uuid, outcome text, tier smallint, mode text, rule_ids text[], reasons jsonb, policy_version text,
  policy_digest text, input_hash text, trace_id text, decided_at timestamptz, event_id uuid)
ON CONFLICT DO NOTHING`;

/**
 * `policy.decisions`: one row per run, the first decision the log holds for it (the one the
 * orchestrator acts on). A batch is one multi-row statement; idempotent, so a replayed batch changes nothing.
 */
export class DecisionProjection implements ProjectionHandler {
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    const rows: DecisionRow[] = [];
    const seen = new Set<string>();
    for (const { env } of events) {
      if (env.type !== 'decision_made' || !env.run_id) continue;
      // first in log order wins, as it would across batches
      if (seen.has(env.run_id)) continue;
      seen.add(env.run_id);
      const d: Decision = env.data;
      rows.push({
        run_id: env.run_id,
        outcome: d.outcome,
        tier: d.tier,
        mode: d.mode,
        rule_ids: d.rule_ids,
        reasons: d.reasons,
        policy_version: d.policy_version,
        policy_digest: d.policy_digest,
        input_hash: d.input_hash,
        trace_id: d.trace_id,
        decided_at: d.evaluated_at,
        event_id: env.id,
      });
    }
    if (!rows.length) return;
    await em.query(INSERT_DECISIONS, [JSON.stringify(rows)]);
  }

  async reset(em: EntityManager): Promise<void> {
    await em.query('DELETE FROM "policy".decisions');
  }
}
