import { Inject, Injectable } from '@nestjs/common';
import type { Action, Decision, Envelope } from '@warden/contracts';
import { makeEnvelope } from '@warden/bus';
import { ValidationError, canonicalJson, deriveId, type Clock, type SigningKeys } from '@warden/kernel';
import { ActiveBundle } from '../bundle/active-bundle';
import { policyMetrics } from './decision.metrics';
import type { LoadedBundle } from './domain/bundle';
import { budgetCrossings, evaluate, policyInput, type PolicyInput, type SessionUsage } from './domain/evaluate';
import { signDecision } from './decision-signer';
import { SessionUsageStore, type UsageEntry } from './session-usage.store';
import { CLOCK, SIGNING_KEYS } from './tokens';

const PRODUCER = 'policy';
/** Counter lifetime when the bundle sets no session budget (sessions are still counted). */
const DEFAULT_WINDOW_SECONDS = 86400;

/**
 * Judges received tasks: records each session's usage, evaluates under the active bundle, signs.
 * Every event it returns has an id derived from the task_received event, so handling the same
 * event again yields the same ids and the broker drops the copies.
 */
@Injectable()
export class DecisionService {
  constructor(
    @Inject(ActiveBundle) private readonly bundles: ActiveBundle,
    @Inject(SessionUsageStore) private readonly usage: SessionUsageStore,
    @Inject(SIGNING_KEYS) private readonly keys: SigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * Judges a batch: records every session's usage at once (runs of one session in the given order),
   * then evaluates and signs each. Returns, per task in order, its events (`decision_made`, then a
   * `budget_exceeded` for each session budget the run crosses first) or the error that settles it
   * (a {@link ValidationError} for a malformed task, a TransientError when its usage was not recorded).
   * @example const results = await decisions.decideAll([received])
   */
  async decideAll(received: readonly Envelope<'task_received'>[]): Promise<(Envelope[] | Error)[]> {
    // one bundle for the whole batch, read before any await
    const policy = this.bundles.current;
    const window = policy.bundle.budgets.session?.window_seconds ?? DEFAULT_WINDOW_SECONDS;
    const results: (Envelope[] | Error | undefined)[] = received.map((r) => mismatch(r));
    const entries: UsageEntry[] = [];
    const entryOf: number[] = [];
    received.forEach((r, i) => {
      const s = r.data.submission;
      if (results[i] || !s.session_id) return;
      entryOf.push(i);
      entries.push({ sessionId: s.session_id, runId: s.run_id, tokens: s.usage?.tokens ?? 0 });
    });
    const usages = entries.length ? await this.usage.recordAll(entries, window) : [];
    const before = new Array<SessionUsage | null>(received.length).fill(null);
    usages.forEach((u, k) => {
      if (u instanceof Error) results[entryOf[k]!] = u;
      else before[entryOf[k]!] = u;
    });
    const out = received.map((r, i): Envelope[] | Error => {
      const settled = results[i];
      if (settled) return settled;
      try {
        return this.judge(policy, r, before[i]!);
      } catch (err) {
        // one task's unexpected failure is retried alone, not with the whole batch
        return err instanceof Error ? err : new Error(String(err));
      }
    });
    countOutcomes(out);
    return out;
  }

  /** Evaluates and signs one task under `policy`, given its session's usage before it. */
  private judge(policy: LoadedBundle, received: Envelope<'task_received'>, before: SessionUsage | null): Envelope[] {
    const submission = received.data.submission;
    const runId = submission.run_id;
    const input = policyInput(submission, before);
    const canonicalAction = canonicalJson(input.action);
    const now = this.clock.now();
    // a fresh object: completed in place rather than copied twice
    const decision: Decision = Object.assign(evaluate(policy, input, now, canonicalAction), {
      trace_id: received.trace_id,
    });
    decision.signature = signDecision(
      this.keys,
      runId,
      submission.action,
      // the input's action is the submission's (tool, args): the same canonical JSON
      sameAction(submission.action, input.action) ? canonicalAction : canonicalJson(submission.action),
      decision,
    );
    // envelope inputs written out rather than spread from a shared object: spreading costs more here
    const events: Envelope[] = [
      makeEnvelope({
        type: 'decision_made',
        runId,
        producer: PRODUCER,
        traceId: received.trace_id,
        correlationId: runId,
        causationId: received.id,
        occurredAt: now,
        data: decision,
      }),
    ];
    for (const c of budgetCrossings(policy, input)) {
      events.push(
        makeEnvelope({
          type: 'budget_exceeded',
          runId,
          producer: PRODUCER,
          traceId: received.trace_id,
          correlationId: runId,
          causationId: received.id,
          occurredAt: now,
          // one per budget: both may be crossed by the same run
          id: deriveId(received.id, 'budget_exceeded', c.budget),
          data: { session_id: submission.session_id!, budget: c.budget, used: c.used, limit: c.limit },
        }),
      );
    }
    return events;
  }
}

function sameAction(a: Action, b: PolicyInput['action']): boolean {
  return a.tool === b.tool && a.args === b.args && Object.keys(a).length === 2;
}

/** Counts a batch's decisions and budget crossings with one increment per label set. */
function countOutcomes(results: readonly (Envelope[] | Error)[]): void {
  const decisions = new Map<string, { outcome: string; tier: string; mode: string; n: number }>();
  const budgets = new Map<string, number>();
  for (const r of results) {
    if (r instanceof Error) continue;
    for (const e of r) {
      if (e.type === 'decision_made') {
        const d = (e as Envelope<'decision_made'>).data;
        const key = `${d.outcome}|${d.tier}|${d.mode}`;
        const c = decisions.get(key);
        if (c) c.n++;
        else decisions.set(key, { outcome: d.outcome, tier: String(d.tier), mode: d.mode, n: 1 });
      } else if (e.type === 'budget_exceeded') {
        const b = (e as Envelope<'budget_exceeded'>).data.budget;
        budgets.set(b, (budgets.get(b) ?? 0) + 1);
      }
    }
  }
  for (const { n, ...labels } of decisions.values()) policyMetrics.decisions.inc(labels, n);
  for (const [budget, n] of budgets) policyMetrics.budgetsExceeded.inc({ budget }, n);
}

/** The envelope's run must be the submission's run: otherwise the events would land on another run. */
function mismatch(received: Envelope<'task_received'>): ValidationError | undefined {
  const runId = received.data.submission.run_id;
  if (received.run_id === runId) return undefined;
  return new ValidationError([{ path: 'run_id', message: `must equal data.submission.run_id (${runId})` }]);
}
