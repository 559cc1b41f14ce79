import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { TransientError } from '@warden/kernel';
import { DATA_SOURCE } from '@warden/runtime';
import type { PolicyInput } from '@warden/policy-language';
import type { UsageRecord } from '../../usage/domain/usage.snapshot';

/** A recorded decision with the full input it was evaluated on (for replay and what-if). */
export interface RecordedDecision {
  run_id: string;
  outcome: string;
  tier: number;
  mode: string;
  rule_ids: string[];
  reasons: string[];
  policy_version: string;
  policy_digest: string;
  input_hash: string;
  decided_at: Date;
  input: PolicyInput | null;
}

/**
 * `policy.decision_inputs`: every evaluated input, by its hash (`input_hash`), written before the
 * decision is published, so each recorded decision can be replayed exactly.
 */
@Injectable()
export class DecisionInputRepository {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  /**
   * Stores inputs (idempotent: an input is stored once per hash) and the batch's `policy.usage` rows
   * (idempotent per run) in one statement, so one commit makes both durable before any decision of
   * the batch is published.
   * @throws TransientError when Postgres refuses
   */
  async saveAll(
    rows: readonly { input_hash: string; input: PolicyInput }[],
    usage: readonly UsageRecord[] = [],
  ): Promise<void> {
    if (!rows.length && !usage.length) return;
    try {
      await this.ds.query(
        `WITH usage AS (
           INSERT INTO "policy".usage (run_id, session_id, agent_id, tool, tokens, micro_usd, host, fingerprint, track_agent,
                                       session_ttl, agent_ttl, rate_key, rate_capacity, rate_per_ms, snapshot)
           SELECT run_id, session_id, agent_id, tool, tokens, micro_usd, host, fingerprint, track_agent, session_ttl,
                  agent_ttl, rate_key, rate_capacity, rate_per_ms, snapshot
           FROM jsonb_to_recordset($2::jsonb) AS x(run_id text, session_id text, agent_id text, tool text, tokens bigint,
                micro_usd bigint, host text, fingerprint text, track_agent boolean, session_ttl integer, agent_ttl integer,
                rate_key text, rate_capacity integer, rate_per_ms integer, snapshot jsonb)
           ON CONFLICT (run_id) DO NOTHING)
         INSERT INTO "policy".decision_inputs (input_hash, input)
         SELECT x.input_hash, x.input FROM jsonb_to_recordset($1::jsonb) AS x(input_hash text, input jsonb)
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(rows), JSON.stringify(usage)],
      );
    } catch (err) {
      throw new TransientError(`storing decision inputs and usage failed: ${(err as Error).message}`, err);
    }
  }

  /** One run's recorded decision with its input, or undefined. */
  async byRun(runId: string): Promise<RecordedDecision | undefined> {
    const rows: RecordedDecision[] = await this.ds.query(
      `SELECT d.run_id, d.outcome, d.tier, d.mode, d.rule_ids, d.reasons, d.policy_version, d.policy_digest,
              d.input_hash, d.decided_at, i.input
         FROM "policy".decisions d LEFT JOIN "policy".decision_inputs i ON i.input_hash = d.input_hash
        WHERE d.run_id = $1`,
      [runId],
    );
    return rows[0];
  }

  /** Recorded decisions since `since` (newest first, at most `limit`), with their inputs. */
  async since(since: Date, limit: number): Promise<RecordedDecision[]> {
    return this.ds.query(
      `SELECT d.run_id, d.outcome, d.tier, d.mode, d.rule_ids, d.reasons, d.policy_version, d.policy_digest,
              d.input_hash, d.decided_at, i.input
         FROM "policy".decisions d JOIN "policy".decision_inputs i ON i.input_hash = d.input_hash
        WHERE d.decided_at >= $1
        ORDER BY d.decided_at DESC
        LIMIT $2`,
      [since, limit],
    );
  }
}
