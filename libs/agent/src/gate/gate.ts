import { isTerminal } from '@warden/contracts';
import { RunEndedError, WardenValidationError, type WardenClient } from '@warden/client';
import type { GateOutcome, RefusalStatus } from './outcome';

/*
 * One tool call through Warden: propose it with the client, wait for its terminal status (or, when
 * configured, only until it waits for a human), and say what became of it as a GateOutcome.
 */

/** What one gated call proposes. */
export interface GateCall {
  tool: string;
  args: Record<string, unknown>;
  session: string;
  intent?: string;
  usage?: { tokens?: number; cost_usd?: number };
  idempotencyKey?: string;
}

/** Any function that takes a call through Warden. */
export type Gate = (call: GateCall) => Promise<GateOutcome>;

/** `wait`: an escalated call waits for the approvers; `return`: it comes back as `pending_approval`. */
export type EscalationMode = 'wait' | 'return';

/** The run record the client's `outcome()` resolves to (the orchestrator's `GET /v1/runs/:id`, §3). */
export interface RunView {
  run_id: string;
  status: string;
  decision?: {
    outcome?: string;
    tier?: number;
    reasons?: string[];
    rule_ids?: string[];
    rewritten_action?: { tool: string; args: Record<string, unknown> };
  } | null;
  approval?: { id: string; status?: string; tier?: number } | null;
  result?: { output?: unknown; error?: { code: string; message: string }; outcome_unknown?: boolean } | null;
}

/** What the gates need of `@warden/client`'s WardenClient. */
export type GateClient = Pick<WardenClient, 'propose' | 'report'>;

const TERMINAL_REFUSAL: Record<string, RefusalStatus | undefined> = {
  denied: 'denied',
  rejected: 'rejected',
  expired: 'expired',
  cancelled: 'cancelled',
  failed: 'failed',
};

/**
 * The GateOutcome of a run in a terminal status.
 * @example outcomeOfRun({ run_id: 'r1', status: 'denied', decision: { reasons: ['no'], rule_ids: ['x'] } }).kind // 'refused'
 */
export function outcomeOfRun(run: RunView): GateOutcome {
  const approvalId = run.approval?.id;
  const withApproval = approvalId ? { approvalId } : {};
  if (run.status === 'succeeded') {
    const rewritten = run.decision?.rewritten_action;
    return {
      kind: 'executed',
      runId: run.run_id,
      output: run.result?.output ?? null,
      ...(rewritten ? { rewrittenTo: rewritten } : {}),
      ...withApproval,
    };
  }
  const status = TERMINAL_REFUSAL[run.status];
  if (!status) throw new Error(`run ${run.run_id} is not terminal (${run.status})`);
  const reasons: string[] = [];
  if (status === 'failed') {
    const err = run.result?.error;
    if (err) reasons.push(`${err.code}: ${err.message}`);
    if (run.result?.outcome_unknown) reasons.push('the outcome is unknown: the tool may or may not have run');
  } else if (status === 'rejected') {
    reasons.push('a human approver rejected the call');
  } else if (status === 'expired') {
    reasons.push('the approval expired before anyone decided');
  } else if (status === 'cancelled') {
    reasons.push('an operator cancelled the run');
  } else {
    reasons.push(...(run.decision?.reasons ?? []));
  }
  return {
    kind: 'refused',
    runId: run.run_id,
    status,
    reasons,
    ruleIds: status === 'denied' ? (run.decision?.rule_ids ?? []) : [],
    ...withApproval,
  };
}

/**
 * A {@link Gate} over a WardenClient: propose, then wait. With `onEscalation: 'return'` a call that
 * escalates comes back as `pending_approval` (with the approval id) as soon as Warden asks a human.
 * An invalid proposal (field errors) comes back as `refused`/`invalid`; other client errors (a bad
 * key, Warden unreachable) are thrown: they are the integrator's to fix, not the model's.
 * @example
 * const gate = wardenGate(client, { onEscalation: 'return' });
 * const o = await gate({ tool: 'fs.read_file', args: { path: 'a.md' }, session: 's1' });
 */
export function wardenGate(client: GateClient, options: { onEscalation?: EscalationMode } = {}): Gate {
  const mode = options.onEscalation ?? 'wait';
  return async (call) => {
    let run: Awaited<ReturnType<GateClient['propose']>>;
    try {
      run = await client.propose(proposal(call));
    } catch (err) {
      const invalid = invalidOutcome(err);
      if (invalid) return invalid;
      throw err;
    }
    if (mode === 'wait') return outcomeOfRun((await run.outcome()).run);
    const pending = await untilPending(run);
    if (pending) return pending;
    return outcomeOfRun((await run.outcome()).run);
  };
}

/** Follows a run until it waits for a human (→ `pending_approval`) or ends (→ undefined). */
async function untilPending(run: Awaited<ReturnType<GateClient['propose']>>): Promise<GateOutcome | undefined> {
  for await (const s of run.updates()) {
    if (s.status === 'awaiting_approval')
      return {
        kind: 'pending_approval',
        runId: run.id,
        ...(s.approval?.id ? { approvalId: s.approval.id } : {}),
        ...(s.approval?.tier ? { tier: s.approval.tier } : s.decision?.tier ? { tier: s.decision.tier } : {}),
      };
    if (isTerminal(s.status)) return undefined;
  }
  return undefined;
}

function proposal(call: GateCall) {
  return {
    tool: call.tool,
    args: call.args,
    session: call.session,
    ...(call.intent !== undefined ? { intent: call.intent } : {}),
    ...(call.usage ? { usage: call.usage } : {}),
    ...(call.idempotencyKey ? { idempotencyKey: call.idempotencyKey } : {}),
  };
}

/** A 400 from ingest (field errors): nothing was proposed, the model is told which fields. */
function invalidOutcome(err: unknown): GateOutcome | undefined {
  if (!(err instanceof WardenValidationError)) return undefined;
  return {
    kind: 'refused',
    runId: null,
    status: 'invalid',
    reasons: err.errors.length ? err.errors.map((f) => `${f.path}: ${f.message}`) : [err.detail],
    ruleIds: [],
  };
}

/** A tool function run in this process once Warden allows it (bring your own executor). */
export type LocalExecutor = (args: Record<string, unknown>) => unknown;

/** Thrown by a local executor: the model reads it as a failed call. */
function failedOutcome(err: unknown, runId: string | null): GateOutcome {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : 'TOOL.FAILED';
  return { kind: 'refused', runId, status: 'failed', reasons: [`${code}: ${String(e?.message ?? err)}`], ruleIds: [] };
}

/**
 * A {@link Gate} whose calls execute `fn` in this process, only once Warden allows them (what the
 * client's `guard` does, keeping the run id: propose with `executor: 'client'`, wait for the decision
 * and the approvers, run `fn` once on the single-use grant, report its output). Denials, rejections and expiries come back as
 * `refused` (with the policy's reasons and rule ids); `fn`'s own error as `refused`/`failed`.
 * With `onEscalation: 'return'`, a call that needs a human returns `pending_approval` at once and
 * `fn` runs in the background if and when it is approved (its error goes to `onBackgroundError`).
 * @example
 * const gate = guardedGate(client, async (args) => page.click(String(args.selector)));
 * await gate({ tool: 'browser.click', args: { selector: '#buy' }, session: 's1' });
 */
export function guardedGate(
  client: GateClient,
  fn: LocalExecutor,
  options: { onEscalation?: EscalationMode; onBackgroundError?: (err: unknown) => void } = {},
): Gate {
  const mode = options.onEscalation ?? 'wait';
  return async (call) => {
    let run: Awaited<ReturnType<GateClient['propose']>>;
    try {
      run = await client.propose({ ...proposal(call), executor: 'client' });
    } catch (err) {
      const invalid = invalidOutcome(err);
      if (invalid) return invalid;
      throw err;
    }
    // a retried call (same idempotency key) is the first run: never execute it a second time, say what it did
    if (run.duplicate) return outcomeOfRun((await run.outcome()).run);
    const execute = async (): Promise<GateOutcome> => {
      let grant: Awaited<ReturnType<typeof run.grant>>;
      try {
        grant = await run.grant();
      } catch (err) {
        if (err instanceof RunEndedError) return outcomeOfRun(err.run);
        throw err;
      }
      let value: unknown;
      try {
        value = await fn(grant.grant.action.args);
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown };
        await client.report(grant, {
          error: { code: typeof e?.code === 'string' ? e.code : 'TOOL.FAILED', message: String(e?.message ?? err) },
        });
        return failedOutcome(err, run.id);
      }
      await client.report(grant, { output: value });
      return outcomeOfRun({ ...(await run.outcome()).run, result: { output: value } });
    };
    if (mode === 'wait') return execute();
    const pending = await untilPending(run);
    if (!pending) return execute();
    execute().catch((err: unknown) => options.onBackgroundError?.(err));
    return pending;
  };
}
