import type { LoadedBundle } from './bundle';
import { evaluate, type PolicyInput, type Verdict } from './evaluate';

/** What a recorded decision said. */
export interface RecordedVerdict {
  run_id: string;
  outcome: string;
  tier: number;
  rule_ids: string[];
  reasons: string[];
  input_hash: string;
  decided_at: Date | string;
  input: PolicyInput | null;
}

/** One replay: the recorded decision against its re-evaluation under the recorded digest. */
export interface ReplayResult {
  run_id: string;
  identical: boolean;
  /** e.g. `outcome: recorded deny, replayed allow`. */
  differences: string[];
  replayed: Pick<Verdict, 'outcome' | 'tier' | 'rule_ids' | 'reasons' | 'input_hash'>;
}

/**
 * Re-evaluates a recorded decision's input under `policy` (the bundle of its recorded digest) and
 * compares outcome, tier, rule_ids, reasons and input_hash.
 * @example replay(await registry.load(row.policy_digest), row).identical
 */
export function replay(policy: LoadedBundle, recorded: RecordedVerdict): ReplayResult {
  if (!recorded.input) throw new Error(`run ${recorded.run_id} has no recorded input`);
  const v = evaluate(policy, recorded.input, new Date(recorded.decided_at));
  const differences: string[] = [];
  const cmp = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b))
      differences.push(`${what}: recorded ${JSON.stringify(a)}, replayed ${JSON.stringify(b)}`);
  };
  cmp('outcome', recorded.outcome, v.outcome);
  cmp('tier', recorded.tier, v.tier);
  cmp('rule_ids', recorded.rule_ids, v.rule_ids);
  cmp('reasons', recorded.reasons, v.reasons);
  cmp('input_hash', recorded.input_hash, v.input_hash);
  return {
    run_id: recorded.run_id,
    identical: differences.length === 0,
    differences,
    replayed: { outcome: v.outcome, tier: v.tier, rule_ids: v.rule_ids, reasons: v.reasons, input_hash: v.input_hash },
  };
}

/** A change a candidate bundle would make to one recorded decision. */
export interface WhatIfExample {
  run_id: string;
  agent: string;
  tool: string;
  before: { outcome: string; tier: number; rule_ids: string[] };
  after: { outcome: string; tier: number; rule_ids: string[]; reasons: string[] };
}

/** What a candidate bundle would have decided differently. */
export interface WhatIfReport {
  evaluated: number;
  unchanged: number;
  changed: number;
  /** `deny→allow: 12`; a tier change of escalate reads `escalate(2)→escalate(3)`. */
  transitions: Record<string, number>;
  /** Up to `examplesPer` per transition. */
  examples: Record<string, WhatIfExample[]>;
}

function label(outcome: string, tier: number, showTier: boolean): string {
  return showTier ? `${outcome}(${tier})` : outcome;
}

/**
 * Evaluates `candidate` over recorded decisions (their full inputs) and counts what would change.
 * @example whatIf(parseBundle(text), await inputs.since(dayAgo, 10000)).transitions // { 'deny→allow': 12 }
 */
export function whatIf(candidate: LoadedBundle, recorded: readonly RecordedVerdict[], examplesPer = 3): WhatIfReport {
  const report: WhatIfReport = { evaluated: 0, unchanged: 0, changed: 0, transitions: {}, examples: {} };
  for (const r of recorded) {
    if (!r.input) continue;
    report.evaluated++;
    const v = evaluate(candidate, r.input, new Date(r.decided_at));
    const sameOutcome = v.outcome === r.outcome;
    if (sameOutcome && v.tier === r.tier) {
      report.unchanged++;
      continue;
    }
    report.changed++;
    const key = `${label(r.outcome, r.tier, sameOutcome)}→${label(v.outcome, v.tier, sameOutcome)}`;
    report.transitions[key] = (report.transitions[key] ?? 0) + 1;
    const list = (report.examples[key] ??= []);
    if (list.length < examplesPer) {
      list.push({
        run_id: r.run_id,
        agent: `${r.input.agent.id} (${r.input.agent.role})`,
        tool: r.input.action.tool,
        before: { outcome: r.outcome, tier: r.tier, rule_ids: r.rule_ids },
        after: { outcome: v.outcome, tier: v.tier, rule_ids: v.rule_ids, reasons: v.reasons },
      });
    }
  }
  return report;
}
