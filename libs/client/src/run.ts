import type { AnyEnvelope, Envelope, ExecutionGrant } from '@warden/contracts';
import { isTerminal } from '@warden/contracts';
import { runEndedError } from './errors';
import type { StreamMessage } from './stream';
import type { RunSnapshot } from './types';

/**
 * What {@link Run.outcome} resolves to: the run's terminal status with what decided it (the decision,
 * the approval) and what executing produced (the result).
 * @example const { status, result } = await run.outcome(); if (status === 'succeeded') use(result?.output)
 */
export interface RunOutcome {
  runId: string;
  status: RunSnapshot['status'];
  decision: RunSnapshot['decision'];
  approval: RunSnapshot['approval'];
  result: RunSnapshot['result'];
  /**
   * For a denied run: the `run_denied` event's reasons and rule ids (the policy's, or the orchestrator's
   * own, e.g. `orchestrator.client-executor` or `orchestrator.approval-binding`).
   */
  denial?: { reasons: string[]; rule_ids: string[] };
  /** The whole run as the orchestrator shows it. */
  run: RunSnapshot;
}

/**
 * A grant to execute the run's action in this process, once (bring your own executor): the signed
 * grant as the orchestrator issued it. Report with {@link WardenClient.report} (or let
 * {@link WardenClient.guard} do it all).
 * @example const grant = await run.grant(); const out = await tool(grant.grant.action.args); await client.report(grant, { output: out })
 */
export interface Grant {
  grant: ExecutionGrant;
  signature: string;
}

/**
 * One proposed run. Nothing here polls: {@link outcome}, {@link events} and {@link grant} follow the
 * run's server-sent event stream (`GET /v1/runs/:id/stream` on the orchestrator), or over the bus the
 * run's signed events on the events stream, each verified with the producers' public keys.
 * @example const run = await client.propose({ tool: 'git.status' }); console.log((await run.outcome()).status)
 */
export class Run {
  constructor(
    /** The run's id. */
    readonly id: string,
    /**
     * True when an earlier call made this run (same agent and idempotency key): this call did not create
     * it. A retry inside one `propose` call after a lost answer finds its own run: `false`.
     */
    readonly duplicate: boolean,
    /**
     * The run's stream from its start: the orchestrator's SSE stream over HTTP, or the verified events
     * stream over the bus (see {@link BusTransport}).
     */
    private readonly follow: (signal?: AbortSignal) => AsyncGenerator<StreamMessage>,
  ) {}

  /**
   * Resolves once the run is terminal (`succeeded`, `failed`, `denied`, `rejected`, `expired`,
   * `cancelled`) — after any approval wait — with the decision, approval and result. Never throws for
   * a denial: look at `status`. Pass a signal to stop waiting.
   * @example const o = await run.outcome(); if (o.status === 'denied') console.log(o.decision?.reasons)
   */
  async outcome(opts: { signal?: AbortSignal } = {}): Promise<RunOutcome> {
    let denial: RunOutcome['denial'];
    for await (const m of this.follow(opts.signal)) {
      denial = deniedBy(m) ?? denial;
      if (m.event === 'end') return toOutcome(m.data as RunSnapshot, denial);
    }
    throw new Error(`stopped waiting for run ${this.id}`);
  }

  /**
   * The run's timeline, event by event in log order (`task_received`, `decision_made`,
   * `approval_requested`, …), each a signed envelope; the iteration ends after the run's terminal event.
   * Events the orchestrator recorded but did not act on (a forged copy) are skipped.
   * @example for await (const e of run.events()) console.log(e.type)
   */
  async *events(opts: { signal?: AbortSignal } = {}): AsyncGenerator<AnyEnvelope> {
    for await (const m of this.follow(opts.signal)) {
      if (m.event === 'event') yield m.data as AnyEnvelope;
      if (m.event === 'end') return;
    }
  }

  /**
   * Every change of the run's status and view (received → awaiting_approval → …), ending with the
   * terminal one: what to show a user while an approval is pending.
   * @example for await (const s of run.updates()) if (s.status === 'awaiting_approval') notify(s.approval?.id)
   */
  async *updates(opts: { signal?: AbortSignal } = {}): AsyncGenerator<RunSnapshot> {
    for await (const m of this.follow(opts.signal)) {
      if (m.event === 'run' || m.event === 'end') yield m.data as RunSnapshot;
      if (m.event === 'end') return;
    }
  }

  /**
   * For a run proposed with `executor: 'client'`: waits for Warden's decision (and the people's, when
   * it escalates) and resolves with the signed single-use grant to execute the action here. Throws the
   * typed {@link RunEndedError} (`RunDeniedError`, `ApprovalRefusedError` …) when the run ends without one.
   * @example const g = await run.grant(); // then execute g.grant.action and client.report(g, …)
   */
  async grant(opts: { signal?: AbortSignal } = {}): Promise<Grant> {
    let denial: RunOutcome['denial'];
    for await (const m of this.follow(opts.signal)) {
      denial = deniedBy(m) ?? denial;
      if (m.event === 'event' && (m.data as AnyEnvelope).type === 'execution_granted') {
        const e = m.data as Envelope<'execution_granted'>;
        return { grant: e.data.grant, signature: e.data.signature };
      }
      if (m.event === 'end') throw runEndedError(m.data as RunSnapshot, denial);
    }
    throw new Error(`stopped waiting for run ${this.id}`);
  }
}

function toOutcome(run: RunSnapshot, denial?: RunOutcome['denial']): RunOutcome {
  if (!isTerminal(run.status)) throw new Error(`run ${run.run_id} is not terminal (${run.status})`);
  return {
    runId: run.run_id,
    status: run.status,
    decision: run.decision,
    approval: run.approval,
    result: run.result,
    ...(denial ? { denial } : {}),
    run,
  };
}

/** The denial a stream message carries, if it is the run's `run_denied` event. */
function deniedBy(m: StreamMessage): RunOutcome['denial'] {
  if (m.event !== 'event' || (m.data as AnyEnvelope).type !== 'run_denied') return undefined;
  const { reasons, rule_ids } = (m.data as Envelope<'run_denied'>).data;
  return { reasons, rule_ids };
}
