import type { AnyEnvelope, ExecuteCommand, Subjects } from '@warden/contracts';
import { makeEnvelope, type OutgoingMessage, type Publisher } from '@warden/bus';
import type { ApplyContext } from '@warden/persistence';
import { childSpan, registry } from '@warden/observability';
import { Counter } from 'prom-client';
import { react, type ReactContext, type Reaction } from '../domain/run.decide';
import { executeCommandFor } from '../domain/run.dispatch';
import type { RunState } from '../domain/run.state';
import type { ClientExecutorRule } from '../domain/execution';
import type { RunSigner } from '../run-signer';

/** Decisions whose signature does not verify: ignored (never folded into the run), counted, kept in the timeline. */
const forgedDecisions =
  (registry.getSingleMetric('warden_orchestrator_forged_decisions_total') as Counter | undefined) ??
  new Counter({
    name: 'warden_orchestrator_forged_decisions_total',
    help: 'decision_made events ignored because their signature does not verify',
    registers: [registry],
  });

export interface RunProcessOptions {
  approvalTtlMs: (tier: number) => number;
  requiredVotes: Record<number, number>;
  /** Bring your own executor (absent: client executors are refused). */
  clientExecutor?: ClientExecutorRule;
}

/** What the process needs for one batch: whether it is live (not a rebuild) and the context `react` reads. */
export interface ProcessBatch {
  live: boolean;
  now: Date;
  react: Omit<ReactContext, 'decisionAuthentic'>;
}

/**
 * The orchestrator's process manager, for each run event in log order: verify (a decision the policy
 * did not sign is forged: counted, never acted on), decide (the pure {@link react}), then sign and
 * address what it decided (events, client grants, worker commands). It publishes nothing itself: the
 * messages are returned to the ordered pass (`RunPass`), which publishes them before its batch commits.
 * @example const batch = consumer.batch(ctx); const forged = consumer.handle(before, env, batch, out)
 */
export class RunProcessConsumer {
  constructor(
    private readonly subjects: Subjects,
    private readonly publisher: Publisher,
    private readonly signer: RunSigner,
    private readonly opts: RunProcessOptions,
  ) {}

  batch(ctx: ApplyContext): ProcessBatch {
    return {
      live: !ctx.rebuild,
      now: ctx.now,
      react: {
        now: ctx.now,
        approvalTtlMs: this.opts.approvalTtlMs,
        requiredVotes: (tier) => this.opts.requiredVotes[tier] ?? 1,
        workerSubject: (role) => this.subjects.workerExecute(role),
        ...(this.opts.clientExecutor ? { clientExecutor: this.opts.clientExecutor } : {}),
      },
    };
  }

  /**
   * Handles one event given the run as it was before it; pushes what to publish onto `out` (nothing
   * while rebuilding). Returns whether the event is a forged decision (the timeline keeps it out of the run).
   */
  handle(before: RunState, env: AnyEnvelope, batch: ProcessBatch, out: OutgoingMessage[]): boolean {
    const forged = env.type === 'decision_made' && !this.signer.decisionAuthentic(before, env.data);
    if (forged) {
      if (batch.live) forgedDecisions.inc();
      return true;
    }
    if (batch.live) {
      const ctx: ReactContext = { ...batch.react, decisionAuthentic: (d) => this.signer.decisionAuthentic(before, d) };
      for (const r of react(before, env, ctx)) out.push(this.toMessage(before, env, r, batch.now));
    }
    return false;
  }

  private toMessage(state: RunState, cause: AnyEnvelope, r: Reaction, now: Date): OutgoingMessage {
    const runId = state.runId;
    if (r.kind === 'event') {
      const env = makeEnvelope({
        type: r.type,
        runId,
        producer: 'orchestrator',
        traceId: cause.trace_id,
        causationId: cause.id,
        correlationId: runId,
        data: r.data,
        occurredAt: now,
      });
      return this.publisher.eventMessage(env);
    }
    if (r.kind === 'grant') {
      // the grant is signed by the orchestrator's own key: ingest checks it before it takes a report
      const env = makeEnvelope({
        type: 'execution_granted',
        runId,
        producer: 'orchestrator',
        traceId: cause.trace_id,
        causationId: cause.id,
        correlationId: runId,
        data: { grant: r.grant, signature: this.signer.signGrant(r.grant) },
        occurredAt: now,
      });
      return this.publisher.eventMessage(env);
    }
    const command = this.signer.signCommand(executeCommandFor(state, cause, r, now));
    traceDispatch(state, command, cause.id);
    // the run_queued fact is in the log before any worker can report on the run
    return {
      subject: this.subjects.workerExecute(r.role),
      payload: command,
      msgId: command.command_id,
      traceId: cause.trace_id,
      cause: cause.id,
      kind: 'command',
      wave: 1,
    };
  }
}

/** The dispatch span of a run (under the span of the event that released it): who, what, which tier. */
function traceDispatch(state: RunState, command: ExecuteCommand, cause: string): void {
  childSpan(
    'orchestrator',
    `dispatch ${command.action.tool}`,
    command.trace_id,
    {
      'gen_ai.tool.name': command.action.tool,
      ...(state.agent ? { 'gen_ai.agent.id': state.agent.id } : {}),
      ...(state.sessionId ? { 'gen_ai.conversation.id': state.sessionId } : {}),
      'warden.run_id': command.run_id,
      'warden.worker.role': command.role,
      'warden.decision.outcome': command.decision.outcome,
      'warden.tier': command.decision.tier,
      'warden.policy_digest': command.decision.policy_digest,
      ...(command.approval_id ? { 'warden.approval_id': command.approval_id } : {}),
    },
    { cause },
  )?.end();
}
