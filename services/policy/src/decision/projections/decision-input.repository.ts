import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { TransientError } from '@warden/kernel';
import { DATA_SOURCE } from '@warden/runtime';
import type { PolicyInput } from '@warden/policy-language';

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
   * Stores inputs (idempotent: an input is stored once per hash). One statement for the batch.
   * @throws TransientError when Postgres refuses
   */
  async saveAll(rows: readonly { input_hash: string; input: PolicyInput }[]): Promise<void> {
    if (!rows.length) return;
    try {
      await this.ds.query(
        `INSERT INTO "policy".decision_inputs (input_hash, input)
         SELECT x.input_hash, x.input FROM jsonb_to_recordset($1::jsonb) AS x(input_hash text, input jsonb)
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(rows)],
      );
    } catch (err) {
      throw new TransientError(`storing decision inputs failed: ${(err as Error).message}`, err);
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
