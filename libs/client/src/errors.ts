import type { FieldError, RunStatus } from '@warden/contracts';
import type { RunSnapshot } from './types';

/**
 * Every error this client throws. `code` is the contract's stable code (`INGEST.RATE_LIMITED`,
 * `KEY.AGENT_MISMATCH`, `RUN.DENIED` …), never a message to parse.
 * @example try { await client.propose(p) } catch (e) { if (e instanceof WardenError) console.log(e.code) }
 */
export class WardenError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * An HTTP answer that is an RFC 9457 problem: `status`, the contract's `code` (the problem's `title`),
 * `detail`, and for validation errors the field `errors` (`[{path, message}]`, e.g. `action.tool`).
 * @example if (e instanceof WardenApiError && e.status === 403) console.log(e.errors.map((x) => x.path))
 */
export class WardenApiError extends WardenError {
  constructor(
    readonly status: number,
    code: string,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    /** Seconds the server asked to wait (`Retry-After`), when it did. */
    readonly retryAfterSeconds?: number,
  ) {
    super(code, `${status} ${code}: ${detail}`);
  }
}

/**
 * A `400` whose `errors` name each invalid field (`args.path`, `agent.role` …).
 * @example catch (e) { if (e instanceof WardenValidationError) for (const f of e.errors) console.log(f.path, f.message) }
 */
export class WardenValidationError extends WardenApiError {}

/**
 * `401` (no valid API key) or `403` (a key that may not do this, e.g. `KEY.AGENT_MISMATCH`).
 * @example catch (e) { if (e instanceof WardenAuthError) rotateKey() }
 */
export class WardenAuthError extends WardenApiError {}

/**
 * No answer: the connection failed or broke, on every attempt the retry policy allowed.
 * @example catch (e) { if (e instanceof WardenNetworkError) console.log(e.cause) }
 */
export class WardenNetworkError extends WardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CLIENT.NETWORK', message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * The run ended without being allowed to execute (or without succeeding): what {@link WardenClient.guard}
 * throws, and what `run.grant()` throws when no grant will come. `code` is `RUN.<STATUS>`
 * (`RUN.DENIED`, `RUN.REJECTED`, `RUN.EXPIRED`, `RUN.CANCELLED`, `RUN.FAILED`); `reasons` are the
 * policy's or the approver's words, fit to show a user or a model.
 * @example catch (e) { if (e instanceof RunEndedError) return `refused: ${e.reasons.join('; ')}` }
 */
export class RunEndedError extends WardenError {
  readonly status: RunStatus;
  readonly reasons: string[];
  constructor(
    readonly run: RunSnapshot,
    /** The `run_denied` event's words and rules, when the run was denied (by policy or by the orchestrator). */
    readonly denial?: { reasons: string[]; rule_ids: string[] },
  ) {
    const reasons = reasonsOf(run, denial);
    super(
      `RUN.${run.status.toUpperCase()}`,
      `run ${run.run_id} ended ${run.status}${reasons.length ? `: ${reasons.join('; ')}` : ''}`,
    );
    this.status = run.status;
    this.reasons = reasons;
  }
}

/**
 * The policy denied the action (`RUN.DENIED`).
 * @example catch (e) { if (e instanceof RunDeniedError) console.log(e.reasons) }
 */
export class RunDeniedError extends RunEndedError {}

/**
 * The people said no: the approval was rejected (`RUN.REJECTED`) or expired undecided (`RUN.EXPIRED`).
 * @example catch (e) { if (e instanceof ApprovalRefusedError) console.log(e.run.approval) }
 */
export class ApprovalRefusedError extends RunEndedError {}

/**
 * Why a terminal run ended, in words: the decision's reasons for a denial, the approval's closing reason,
 * the result's error.
 * @example reasonsOf(run, denial) // ['secrets.read is never allowed']
 */
export function reasonsOf(run: RunSnapshot, denial?: { reasons: string[] }): string[] {
  const out: string[] = [];
  if (run.status === 'denied') out.push(...(denial?.reasons ?? run.decision?.reasons ?? []));
  if (run.status === 'rejected') out.push('the approval was rejected');
  if (run.status === 'expired') out.push('the approval expired before anyone decided');
  if (run.status === 'cancelled') out.push('the run was cancelled');
  if (run.result?.error) out.push(`${run.result.error.code}: ${run.result.error.message}`);
  return out;
}

/**
 * The typed error for a run that ended `status` (a subclass per kind of ending).
 * @example throw runEndedError(run)
 */
export function runEndedError(run: RunSnapshot, denial?: { reasons: string[]; rule_ids: string[] }): RunEndedError {
  if (run.status === 'denied') return new RunDeniedError(run, denial);
  if (run.status === 'rejected' || run.status === 'expired') return new ApprovalRefusedError(run);
  return new RunEndedError(run);
}
