import { approvalWaitText, type ApprovalHints, type RunView } from './run-view';

/** MCP task statuses (spec 2025-11-25, "tasks" utility). */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

export function taskTerminal(status: string): boolean {
  return (TERMINAL_TASK_STATUSES as readonly string[]).includes(status);
}

/** What a task says of its run: its status and a message for the person watching the client. */
export interface TaskState {
  status: TaskStatus;
  statusMessage: string;
}

/**
 * The task status of a run (pure). A run waiting for people is `input_required` — the input is a
 * human approval given in Warden (dashboard, CLI, Slack), not something the client sends; the message
 * says where. Every terminal outcome but success is `failed` (the spec's rule for a tool result with
 * `isError`), except a cancelled run, which is `cancelled`.
 * @example taskStateOf({ runId: 'r', status: 'queued' }, hints) // { status: 'working', … }
 */
export function taskStateOf(view: RunView, hints: ApprovalHints): TaskState {
  switch (view.status) {
    case 'none':
    case 'received':
      return { status: 'working', statusMessage: `Run ${view.runId} received: Warden policy is judging it.` };
    case 'awaiting_approval':
      return { status: 'input_required', statusMessage: approvalWaitText(view, hints) };
    case 'queued':
      return { status: 'working', statusMessage: `Run ${view.runId} allowed and queued for a worker.` };
    case 'running':
      return { status: 'working', statusMessage: `Run ${view.runId} is running.` };
    case 'succeeded':
      return { status: 'completed', statusMessage: `Run ${view.runId} succeeded.` };
    case 'cancelled':
      return {
        status: 'cancelled',
        statusMessage: `Run ${view.runId} was cancelled by ${view.cancelled?.by ?? 'an operator'}.`,
      };
    case 'failed':
    case 'denied':
    case 'rejected':
    case 'expired':
      return { status: 'failed', statusMessage: `Run ${view.runId} ${view.status}: tasks/result says why.` };
  }
}
