import type { EntityManager } from 'typeorm';
import {
  decisionSigningPayload,
  executeCommandSigningPayload,
  grantSigningPayload,
  type AnyEnvelope,
  type Decision,
  type ExecuteCommand,
  type Subjects,
} from '@warden/contracts';
import { makeEnvelope, type OutgoingMessage, type Publisher } from '@warden/bus';
import { deriveId, sha256Canonical, signCanonical, verifyCanonical, type SigningKeys } from '@warden/kernel';
import type { ApplyContext, ProjectedEvent, ProjectionHandler } from '@warden/persistence';
import { childSpan, registry } from '@warden/observability';
import { Counter } from 'prom-client';
import { react, type ReactContext, type Reaction } from '../domain/run.decide';
import { evolve, initialState, reportRefusal, type RunState } from '../domain/run.state';
import { RunRepository, type RunEventRow } from './run.repository';
import type { RunMetricsRecorder } from '../run.metrics';
import { RUN_CHANGED_CHANNEL } from '../run-notifier';
import type { ClientExecutorRule } from '../domain/execution';

/** Decisions whose signature does not verify: ignored (never folded into the run), counted, kept in the timeline. */
const forgedDecisions =
  (registry.getSingleMetric('warden_orchestrator_forged_decisions_total') as Counter | undefined) ??
  new Counter({
    name: 'warden_orchestrator_forged_decisions_total',
    help: 'decision_made events ignored because their signature does not verify',
    registers: [registry],
  });

export const FORGED_DECISION_NOTE = 'ignored: decision signature does not verify';

export interface RunProcessOptions {
  approvalTtlMs: (tier: number) => number;
  requiredVotes: Record<number, number>;
  /** Run latency and agent-behaviour metrics (live only, never while rebuilding). */
  metrics?: RunMetricsRecorder;
  /** Bring your own executor (absent: client executors are refused). */
  clientExecutor?: ClientExecutorRule;
}

/**
 * The orchestrator's process manager and read model in one ordered pass over every run event: for each
 * event it decides what to do (pure {@link react}), folds it into the run ({@link evolve}) and records it
 * in the run's timeline. What it decides is published before the batch commits (see CheckpointedProjection).
 */
export class RunProjection implements ProjectionHandler {
  constructor(
    private readonly subjects: Subjects,
    private readonly publisher: Publisher,
    private readonly keys: { commands: SigningKeys; decisions: SigningKeys },
    private readonly opts: RunProcessOptions,
  ) {}

  async apply(events: ProjectedEvent[], em: EntityManager, ctx: ApplyContext): Promise<OutgoingMessage[]> {
    const repo = new RunRepository(em);
    const runEvents = events.filter((e) => e.env.run_id);
    const states = await repo.loadStates([...new Set(runEvents.map((e) => e.env.run_id!))]);
    const stored = await repo.existingEventIds(runEvents.map((e) => e.env.id));
    const touched = new Map<string, { state: RunState; lastSeq: number }>();
    const rows: RunEventRow[] = [];
    const out: OutgoingMessage[] = [];
    const reactCtx = this.reactContext(ctx.now);
    const metrics = ctx.rebuild ? undefined : this.opts.metrics;
    metrics?.begin();
    for (const { msg, env } of runEvents) {
      const runId = env.run_id!;
      if (stored.has(env.id)) continue; // a duplicate that slipped past the broker's window
      stored.add(env.id);
      const before = states.get(runId) ?? initialState(runId);
      const forged = env.type === 'decision_made' && !this.authentic(before, env.data);
      if (forged && !ctx.rebuild) forgedDecisions.inc();
      if (!ctx.rebuild && !forged) {
        for (const r of react(before, env, { ...reactCtx, decisionAuthentic: (d) => this.authentic(before, d) })) {
          out.push(this.toMessage(before, env, r, ctx.now));
        }
      }
      // a client's report that settles nothing (another grant or action, a second or late report) is kept, noted
      const refusedReport = env.type === 'execution_reported' ? reportRefusal(before, env) : undefined;
      const after = forged ? before : evolve(before, env);
      metrics?.observe(before, after, env);
      states.set(runId, after);
      if (after.status !== 'none' || !forged) touched.set(runId, { state: after, lastSeq: msg.seq });
      rows.push({
        id: env.id,
        run_id: runId,
        seq: msg.seq,
        type: env.type,
        occurred_at: env.occurred_at,
        envelope: env,
        ...(forged ? { note: FORGED_DECISION_NOTE } : refusedReport ? { note: `ignored: ${refusedReport}` } : {}),
      });
    }
    await repo.insertEvents(rows);
    await repo.saveStates([...touched.values()]);
    // wakes the run streams (GET /v1/runs/:id/stream) of every replica once this batch commits
    if (!ctx.rebuild && rows.length)
      await em.query('SELECT pg_notify($1, r) FROM unnest($2::text[]) AS r', [
        RUN_CHANGED_CHANNEL,
        [...new Set(rows.map((r) => r.run_id))],
      ]);
    return out;
  }

  async reset(em: EntityManager): Promise<void> {
    await new RunRepository(em).reset();
  }

  committed(): void {
    this.opts.metrics?.commit();
  }

  private reactContext(now: Date): Omit<ReactContext, 'decisionAuthentic'> {
    return {
      now,
      approvalTtlMs: this.opts.approvalTtlMs,
      requiredVotes: (tier) => this.opts.requiredVotes[tier] ?? 1,
      workerSubject: (role) => this.subjects.workerExecute(role),
      ...(this.opts.clientExecutor ? { clientExecutor: this.opts.clientExecutor } : {}),
    };
  }

  private authentic(state: RunState, d: Decision): boolean {
    return (
      !!d.signature &&
      verifyCanonical(this.keys.decisions, decisionSigningPayload(state.runId, state.action, d), d.signature)
    );
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
      const signature = signCanonical(this.keys.commands, grantSigningPayload(r.grant));
      const env = makeEnvelope({
        type: 'execution_granted',
        runId,
        producer: 'orchestrator',
        traceId: cause.trace_id,
        causationId: cause.id,
        correlationId: runId,
        data: { grant: r.grant, signature },
        occurredAt: now,
      });
      return this.publisher.eventMessage(env);
    }
    const unsigned: Omit<ExecuteCommand, 'signature'> = {
      command_id: deriveId(cause.id, 'execute'),
      run_id: runId,
      role: r.role,
      action: r.action,
      decision: r.decision,
      decision_hash: sha256Canonical(r.decision),
      approval_id: r.approvalId,
      ...(state.agent ? { agent_id: state.agent.id } : {}),
      ...(state.sessionId ? { session_id: state.sessionId } : {}),
      trace_id: cause.trace_id,
      causation_id: cause.id,
      issued_at: now.toISOString(),
    };
    const command: ExecuteCommand = {
      ...unsigned,
      signature: signCanonical(this.keys.commands, executeCommandSigningPayload(unsigned)),
    };
    traceDispatch(state, command);
    // the run_queued fact is in the log before any worker can report on the run
    return {
      subject: this.subjects.workerExecute(r.role),
      payload: command,
      msgId: command.command_id,
      traceId: cause.trace_id,
      kind: 'command',
      wave: 1,
    };
  }
}

/** The dispatch span of a run (under the span of the event that released it): who, what, which tier. */
function traceDispatch(state: RunState, command: ExecuteCommand): void {
  childSpan('orchestrator', `dispatch ${command.action.tool}`, command.trace_id, {
    'gen_ai.tool.name': command.action.tool,
    ...(state.agent ? { 'gen_ai.agent.id': state.agent.id } : {}),
    ...(state.sessionId ? { 'gen_ai.conversation.id': state.sessionId } : {}),
    'warden.run_id': command.run_id,
    'warden.worker.role': command.role,
    'warden.decision.outcome': command.decision.outcome,
    'warden.tier': command.decision.tier,
    'warden.policy_digest': command.decision.policy_digest,
    ...(command.approval_id ? { 'warden.approval_id': command.approval_id } : {}),
  })?.end();
}
