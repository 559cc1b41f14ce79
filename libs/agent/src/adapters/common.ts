import type { EscalationMode, Gate, GateCall } from '../gate/gate';
import { toolResultJson, type GateOutcome } from '../gate/outcome';

/*
 * What the Vercel AI SDK and LangChain.js adapters share: their options, one gated call from a
 * framework's execute/invoke, and what the framework gets back (the output, or a refusal to read).
 */

/** Thrown instead of returning a refusal when `onRefusal: 'throw'`. */
export class WardenRefusalError extends Error {
  override readonly name = 'WardenRefusalError';
  constructor(readonly outcome: Exclude<GateOutcome, { kind: 'executed' }>) {
    super(
      outcome.kind === 'pending_approval'
        ? `pending approval ${outcome.approvalId ?? ''} (run ${outcome.runId})`
        : `${outcome.status}: ${outcome.reasons.join('; ')}`,
    );
  }
}

/** How the adapters gate calls (shared by the Vercel AI SDK and LangChain adapters). */
export interface WardenAdapterOptions {
  /** The Warden session of every call (default: a new one per wrap). */
  session?: string;
  /** Framework tool name → Warden tool name, where `<namespace>__<name>` does not say it. */
  names?: Record<string, string>;
  /** `wait` (default): a call that needs a human waits for the approvers; `return`: it returns `pending_approval` at once. */
  onEscalation?: EscalationMode;
  /** `result` (default): refusals come back as the tool's result for the model; `throw`: as {@link WardenRefusalError}. */
  onRefusal?: 'result' | 'throw';
  /** Token usage to put on the next proposal (e.g. the last step's usage); called once per call. */
  usage?: () => GateCall['usage'] | undefined;
  /** What the agent says it is doing, per call. */
  intent?: (tool: string, args: Record<string, unknown>) => string | undefined;
  /** Errors of a local tool that ran in the background after a late approval (`onEscalation: 'return'`). */
  onBackgroundError?: (err: unknown) => void;
}

/** The tool's value for the framework: the output, or a refusal object the model reads (or a throw). */
export function adapterResult(o: GateOutcome, onRefusal: WardenAdapterOptions['onRefusal']): unknown {
  if (o.kind === 'executed') return o.output;
  if (onRefusal === 'throw') throw new WardenRefusalError(o);
  return toolResultJson(o);
}

/** One gated call from a framework's execute/invoke. */
export async function gatedCall(
  gate: Gate,
  tool: string,
  args: Record<string, unknown>,
  callId: string | undefined,
  opts: WardenAdapterOptions & { session: string },
): Promise<unknown> {
  const intent = opts.intent?.(tool, args);
  const usage = opts.usage?.();
  const outcome = await gate({
    tool,
    args,
    session: opts.session,
    ...(intent ? { intent: intent.slice(0, 4000) } : {}),
    ...(usage ? { usage } : {}),
    // a retried call (same framework call id) is the same run, never a second
    ...(callId ? { idempotencyKey: `${opts.session}:${callId}`.slice(0, 200) } : {}),
  });
  return adapterResult(outcome, opts.onRefusal);
}
