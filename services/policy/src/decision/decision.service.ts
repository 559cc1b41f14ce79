import { Inject, Injectable } from '@nestjs/common';
import type { Decision, Envelope } from '@warden/contracts';
import { makeEnvelope, type EnvelopeInput } from '@warden/bus';
import { ValidationError, type Clock, type SigningKeys } from '@warden/kernel';
import {
  type LoadedBundle,
  evaluate,
  pathsToResolve,
  type PolicyInput,
  workspacePathsOf,
  type ResolvedPaths,
} from '@warden/policy-language';
import { ActiveBundle } from '../bundle/active-bundle';
import { stateRequest, type StateRequest } from '../usage/domain/usage.request';
import { PolicyStateStore, type StoredState } from '../usage/policy-state.store';
import { policyMetrics } from './decision.metrics';
import { assembleDecision } from './domain/decision.assemble';
import { judgedInput, standingGrantsFor, type Judged } from './domain/decision.input';
import { DecisionInputRepository } from './projections/decision-input.repository';
import {
  CLOCK,
  MCP_TOOL_FACTS,
  SIGNING_KEYS,
  STANDING_APPROVALS,
  type McpToolFactsSource,
  type StandingApprovalSource,
} from './tokens';
import { WorkspacePaths } from './workspace-paths';

const PRODUCER = 'policy';
/** Rounds of path resolution: the action's paths, then a rewrite's (which may depend on them). */
const PATH_ROUNDS = 3;

export type { Judged };

/**
 * Judges received tasks: records each run's session/agent state, evaluates under the active bundle,
 * stores the evaluated input, signs. Every event it returns has an id derived from the
 * task_received event, so handling the same event again yields the same ids and the broker drops
 * the copies.
 */
@Injectable()
export class DecisionService {
  constructor(
    @Inject(ActiveBundle) private readonly bundles: ActiveBundle,
    @Inject(PolicyStateStore) private readonly state: PolicyStateStore,
    @Inject(DecisionInputRepository) private readonly inputs: DecisionInputRepository,
    @Inject(SIGNING_KEYS) private readonly keys: SigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(STANDING_APPROVALS) private readonly standing: StandingApprovalSource,
    @Inject(WorkspacePaths) private readonly workspace: WorkspacePaths,
    @Inject(MCP_TOOL_FACTS) private readonly mcp: McpToolFactsSource,
  ) {}

  /**
   * Judges a batch: records every run's state in one Redis round trip (runs in the given order),
   * evaluates each, stores all evaluated inputs in one statement, then signs. Returns, per task in
   * order, its events (`decision_made`, then a `budget_exceeded` for each budget the run takes over
   * its limit first) or the error that settles it (a {@link ValidationError} for a malformed task, a
   * TransientError when its state or input was not recorded).
   * @example const results = await decisions.decideAll([received])
   */
  async decideAll(received: readonly Envelope<'task_received'>[]): Promise<(Envelope[] | Error)[]> {
    // one bundle for the whole batch, read before any await: a swap mid-batch never mixes bundles
    const policy = this.bundles.current;
    const results: (Error | undefined)[] = received.map((r) => mismatch(r));
    const requests: StateRequest[] = [];
    const requestOf: number[] = [];
    received.forEach((r, i) => {
      if (results[i]) return;
      requestOf.push(i);
      requests.push(stateRequest(policy, r.data.submission.run_id, r.data.submission));
    });
    // the workspace is read while Redis answers: the proposed paths are known before the state
    const [states, resolved] = await Promise.all([
      this.state.recordAll(requests),
      Promise.all(
        received.map((r, i) =>
          results[i]
            ? undefined
            : this.workspace.resolve(
                workspacePathsOf(r.data.submission.action.args, policy.bundle.workspace.path_args),
              ),
        ),
      ),
    ]);
    const stored = new Array<StoredState | null>(received.length).fill(null);
    states.forEach((s, k) => {
      if (s instanceof Error) results[requestOf[k]!] = s;
      else stored[requestOf[k]!] = s;
    });
    const now = this.clock.now();
    const inputs = await Promise.all(
      received.map(async (r, i): Promise<PolicyInput | Error> => {
        const settled = results[i];
        if (settled) return settled;
        const submission = r.data.submission;
        return this.withPaths(policy, this.inputOf(submission, stored[i]!, now), resolved[i]).catch((err: unknown) =>
          err instanceof Error ? err : new Error(String(err)),
        );
      }),
    );
    const judged = received.map((r, i): { events: Envelope[]; input: PolicyInput; hash: string } | Error => {
      const input = inputs[i]!;
      if (input instanceof Error) return input;
      try {
        return this.judge(policy, r, input, now);
      } catch (err) {
        // one task's unexpected failure is retried alone, not with the whole batch
        return err instanceof Error ? err : new Error(String(err));
      }
    });
    const rows = judged.flatMap((j) => (j instanceof Error ? [] : [{ input_hash: j.hash, input: j.input }]));
    try {
      // the inputs and every counted run's usage row, in one commit before anything is published
      await this.inputs.saveAll(dedupe(rows), this.state.durableUsage(requests, states));
    } catch (err) {
      // without its input a decision could not be replayed: retry them
      return judged.map((j) => (j instanceof Error ? j : (err as Error)));
    }
    const out = judged.map((j) => (j instanceof Error ? j : j.events));
    countOutcomes(out);
    return out;
  }

  /**
   * The decision that would be made now, changing nothing: no counters, no events, no stored input
   * (the dry run of `POST /v1/evaluate` and `warden.policy.evaluate`).
   * @example const decision = await decisions.dryRun(submission, traceId)
   */
  async dryRun(submission: Judged, traceId: string): Promise<Decision> {
    const policy = this.bundles.current;
    const request = stateRequest(policy, 'dry-run', submission);
    const stored = await this.state.peek(request);
    const now = this.clock.now();
    const input = await this.withPaths(policy, this.inputOf(submission, stored, now));
    return { ...evaluate(policy, input, now), trace_id: traceId };
  }

  /**
   * The input with every path the evaluation looks up resolved in the workspace (`paths`), so the
   * rules judge what the worker will touch; unchanged when the action has no path argument. The
   * rewrite a compute rule makes is known only by evaluating, so this asks the pure evaluator which
   * paths it still lacks until none (a rewrite of a rewrite never happens: a few rounds suffice; a
   * path still missing after them is denied by the evaluation).
   */
  async withPaths(policy: LoadedBundle, input: PolicyInput, known: ResolvedPaths = {}): Promise<PolicyInput> {
    let paths = known;
    for (let round = 0; round < PATH_ROUNDS; round++) {
      const missing = pathsToResolve(policy, { ...input, paths });
      if (!missing.length) break;
      paths = { ...paths, ...(await this.workspace.resolve(missing)) };
    }
    return Object.keys(paths).length ? { ...input, paths } : input;
  }

  /** What `submission` is judged on before its paths are resolved (see {@link judgedInput}). */
  private inputOf(submission: Judged, state: StoredState, now: Date): PolicyInput {
    return judgedInput(
      submission,
      state,
      standingGrantsFor(submission, this.standing.standingApprovals(now)),
      this.mcp.facts(submission.action.tool),
    );
  }

  /** Evaluates and signs one task under `policy`, given its input (the state before it, its paths). */
  private judge(
    policy: LoadedBundle,
    received: Envelope<'task_received'>,
    input: PolicyInput,
    now: Date,
  ): { events: Envelope[]; input: PolicyInput; hash: string } {
    const { decision, events } = assembleDecision(policy, received, input, now, this.keys);
    const runId = received.data.submission.run_id;
    return {
      events: events.map((e) =>
        makeEnvelope({
          type: e.type,
          id: e.id,
          runId,
          producer: PRODUCER,
          traceId: received.trace_id,
          correlationId: runId,
          causationId: received.id,
          occurredAt: now,
          data: e.data,
        } as EnvelopeInput<typeof e.type>),
      ),
      input,
      hash: decision.input_hash,
    };
  }
}

function dedupe<T extends { input_hash: string }>(rows: T[]): T[] {
  const seen = new Set<string>();
  return rows.filter((r) => (seen.has(r.input_hash) ? false : (seen.add(r.input_hash), true)));
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
