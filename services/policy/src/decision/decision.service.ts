import { Inject, Injectable } from '@nestjs/common';
import type { Action, Decision, Envelope, TaskSubmission } from '@warden/contracts';
import { makeEnvelope } from '@warden/bus';
import { ValidationError, canonicalJson, deriveId, sha256Hex, type Clock, type SigningKeys } from '@warden/kernel';
import { ActiveBundle } from '../bundle/active-bundle';
import { policyMetrics } from './decision.metrics';
import { DecisionInputRepository } from './projections/decision-input.repository';
import {
  type LoadedBundle,
  budgetCrossings,
  evaluate,
  fetchedHost,
  pathsToResolve,
  policyInput,
  type PolicyInput,
  type StandingGrant,
  type Verdict,
  workspacePathsOf,
  type ResolvedPaths,
} from '@warden/policy-language';
import { signDecision } from './domain/decision.signature';
import { PolicyStateStore, type StateRequest, type StoredState } from '../usage/policy-state.store';
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
/** Counter lifetime when the bundle sets no budget (sessions and agents are still counted). */
const DEFAULT_WINDOW_SECONDS = 86400;
/** Rounds of path resolution: the action's paths, then a rewrite's (which may depend on them). */
const PATH_ROUNDS = 3;

/** A submission the policy judges (a `task_received`'s, or a dry run's). */
export type Judged = Pick<TaskSubmission, 'agent' | 'session_id' | 'action' | 'usage'>;

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
        const input = this.withMcp(
          policyInput(submission, { ...stored[i]!, standing: this.standingFor(submission, now) }),
        );
        return this.withPaths(policy, input, resolved[i]).catch((err: unknown) =>
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
      await this.inputs.saveAll(dedupe(rows));
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
    const input = await this.withPaths(
      policy,
      this.withMcp(policyInput(submission, { ...stored, standing: this.standingFor(submission, now) })),
    );
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

  /** The input with the signed MCP catalog's facts about its tool, when it is an upstream server's. */
  withMcp(input: PolicyInput): PolicyInput {
    const mcp = this.mcp.facts(input.action.tool);
    return mcp ? { ...input, mcp } : input;
  }

  /** Active standing approvals for this agent and tool, as evaluated (sorted by id). */
  standingFor(submission: Judged, now: Date): StandingGrant[] {
    return this.standing
      .standingApprovals(now)
      .filter((g) => g.agent_id === submission.agent.id && g.tool === submission.action.tool)
      .map((g) => {
        const grant: StandingGrant = {
          id: g.standing_id,
          scope: g.scope,
          agent_id: g.agent_id,
          tool: g.tool,
          max_tier: g.max_tier,
        };
        if (g.session_id !== undefined) grant.session_id = g.session_id;
        return grant;
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Evaluates and signs one task under `policy`, given its input (the state before it, its paths). */
  private judge(
    policy: LoadedBundle,
    received: Envelope<'task_received'>,
    input: PolicyInput,
    now: Date,
  ): { events: Envelope[]; input: PolicyInput; hash: string } {
    const submission = received.data.submission;
    const runId = submission.run_id;
    const canonicalAction = canonicalJson(input.action);
    // a fresh object: completed in place rather than copied twice
    const decision: Decision = Object.assign(evaluate(policy, input, now, canonicalAction) as Verdict, {
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
          // one per budget and scope: several may be crossed by the same run
          id:
            c.scope === 'session'
              ? deriveId(received.id, 'budget_exceeded', c.budget)
              : deriveId(received.id, 'budget_exceeded', `agent:${c.budget}`),
          data: {
            scope: c.scope,
            ...(submission.session_id ? { session_id: submission.session_id } : {}),
            agent_id: submission.agent.id,
            budget: c.budget,
            used: c.used,
            limit: c.limit,
          },
        }),
      );
    }
    return { events, input, hash: decision.input_hash };
  }
}

/** What the state store needs for one proposal under `policy`. */
export function stateRequest(policy: LoadedBundle, runId: string, s: Judged): StateRequest {
  const { bundle, plan } = policy;
  return {
    runId,
    sessionId: s.session_id ?? null,
    agentId: s.agent.id,
    tool: s.action.tool,
    tokens: s.usage?.tokens ?? 0,
    costUsd: s.usage?.cost_usd ?? 0,
    host: fetchedHost(bundle, s.action.args),
    fingerprint: sha256Hex(canonicalJson({ tool: s.action.tool, args: s.action.args })).slice(0, 32),
    rate: plan.rateLimitFor(s.agent.id, s.action.tool),
    trackAgent: bundle.budgets.agent !== undefined,
    sessionTtl: bundle.budgets.session?.window_seconds ?? DEFAULT_WINDOW_SECONDS,
    agentTtl: bundle.budgets.agent?.window_seconds ?? DEFAULT_WINDOW_SECONDS,
  };
}

function dedupe<T extends { input_hash: string }>(rows: T[]): T[] {
  const seen = new Set<string>();
  return rows.filter((r) => (seen.has(r.input_hash) ? false : (seen.add(r.input_hash), true)));
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
