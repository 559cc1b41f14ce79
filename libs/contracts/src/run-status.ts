import { z } from 'zod';

/** Run statuses (CONTRACT §2): a run is in exactly one; the terminal ones never change again. */
export const NON_TERMINAL_STATUSES = ['received', 'awaiting_approval', 'queued', 'running'] as const;
// The functions below read these unexported names (not the exported ones, which CommonJS output
// rewrites to `exports.X`), so their source is valid on its own in the browser script.
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'] as const;
export const TERMINAL_STATUSES = TERMINAL;
export const RunStatus = z.enum([...NON_TERMINAL_STATUSES, ...TERMINAL_STATUSES]);
export type RunStatus = z.infer<typeof RunStatus>;
/** A run's status before its `task_received` has been seen. */
export type RunStatusOrNone = RunStatus | 'none';

/**
 * The run status machine: which event moves a run from which statuses to which. An event not listed
 * here (`decision_made`, `approval_granted`, votes, budget notices …) never changes the status.
 * Every consumer derives from this one table: the orchestrator's `evolve`, the dashboard's read
 * model, the browser dashboard (served as `/dashboard/run-status.js`, see {@link runStatusScript})
 * and the CLI.
 */
const TRANSITIONS = {
  task_received: { from: ['none'], to: 'received' },
  approval_requested: { from: ['received'], to: 'awaiting_approval' },
  run_queued: { from: ['received', 'awaiting_approval'], to: 'queued' },
  run_started: { from: ['queued'], to: 'running' },
  run_succeeded: { from: NON_TERMINAL_STATUSES, to: 'succeeded' },
  run_failed: { from: NON_TERMINAL_STATUSES, to: 'failed' },
  run_denied: { from: NON_TERMINAL_STATUSES, to: 'denied' },
  run_cancelled: { from: NON_TERMINAL_STATUSES, to: 'cancelled' },
  approval_rejected: { from: ['awaiting_approval'], to: 'rejected' },
  approval_expired: { from: ['awaiting_approval'], to: 'expired' },
  // bring your own executor: the signed grant hands the run to the client; the orchestrator settles its report
  execution_granted: { from: ['received', 'awaiting_approval'], to: 'running' },
  execution_succeeded: { from: ['running'], to: 'succeeded' },
  execution_failed: { from: ['running'], to: 'failed' },
} as const satisfies Record<string, { from: readonly RunStatusOrNone[]; to: RunStatus }>;
export const RUN_TRANSITIONS = TRANSITIONS;
export type StatusEventType = keyof typeof TRANSITIONS;

/**
 * Whether a status is terminal (no event changes it again).
 * @example isTerminal('succeeded') // true
 */
export function isTerminal(status: RunStatusOrNone): boolean {
  return (TERMINAL as readonly string[]).includes(status);
}

/**
 * The status a run is in after `eventType`, for a reader that sees every event of the run in log
 * order (the orchestrator): the transition applies only from one of its `from` statuses; otherwise
 * (an unlisted event, a duplicate, anything after a terminal status) the status is unchanged.
 * Pure; reads nothing but its arguments and the transition table (its source is served to the
 * browser).
 * @example nextStatus('queued', 'run_started') // 'running'
 * @example nextStatus('received', 'run_started') // 'received' (not from received)
 */
export function nextStatus(status: RunStatusOrNone, eventType: string): RunStatusOrNone {
  const t: { from: readonly string[]; to: RunStatus } | undefined = Object.prototype.hasOwnProperty.call(
    TRANSITIONS,
    eventType,
  )
    ? TRANSITIONS[eventType as StatusEventType]
    : undefined;
  return t && t.from.includes(status) ? t.to : status;
}

/**
 * The status after `eventType` for a reader whose starting point may be stale or partial: a read
 * model folding one batch without the stored row (`status` null), or a browser that joined the live
 * stream after a lagging snapshot. The event's target status applies unless the run is already
 * terminal; `null` stays `null` for events that move no status.
 * @example catchUpStatus(null, 'run_started') // 'running'
 * @example catchUpStatus('succeeded', 'run_failed') // 'succeeded'
 */
export function catchUpStatus(status: RunStatus | null, eventType: string): RunStatus | null {
  const t: { to: RunStatus } | undefined = Object.prototype.hasOwnProperty.call(TRANSITIONS, eventType)
    ? TRANSITIONS[eventType as StatusEventType]
    : undefined;
  if (!t || (status !== null && isTerminal(status))) return status;
  return t.to;
}

/**
 * The machine as a browser script (no build step, no module loader): defines `window.WardenRunStatus`
 * with `TERMINAL_STATUSES`, `isTerminal`, `nextStatus` and `catchUpStatus`, built from this module's
 * own table and function sources, so the dashboard cannot drift from the server.
 */
export function runStatusScript(): string {
  return [
    '/* Generated from @warden/contracts run-status.ts at startup; do not edit. */',
    "'use strict';",
    '(function () {',
    `  const TRANSITIONS = ${JSON.stringify(TRANSITIONS)};`,
    `  const TERMINAL = ${JSON.stringify(TERMINAL)};`,
    `  ${isTerminal.toString()}`,
    `  ${nextStatus.toString()}`,
    `  ${catchUpStatus.toString()}`,
    '  const api = { RUN_TRANSITIONS: TRANSITIONS, TERMINAL_STATUSES: TERMINAL, isTerminal, nextStatus, catchUpStatus };',
    '  window.WardenRunStatus = Object.freeze(api);',
    '})();',
    '',
  ].join('\n');
}
