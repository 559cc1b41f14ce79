import { taskStateOf, taskTerminal } from './task-view';
import type { RunView } from './run-view';

const hints = { dashboardUrl: 'http://dash/' };
const view = (status: RunView['status'], extra: Partial<RunView> = {}): RunView => ({ runId: 'r1', status, ...extra });

describe('taskStateOf: the MCP task status of a run', () => {
  it.each([
    ['none', 'working'],
    ['received', 'working'],
    ['queued', 'working'],
    ['running', 'working'],
    ['succeeded', 'completed'],
    ['failed', 'failed'],
    ['denied', 'failed'],
    ['rejected', 'failed'],
    ['expired', 'failed'],
    ['cancelled', 'cancelled'],
  ] as const)('%s → %s', (run, task) => {
    expect(taskStateOf(view(run), hints).status).toBe(task);
  });

  it('a run waiting for people is input_required, and the message names the approval and where to decide it', () => {
    const s = taskStateOf(
      view('awaiting_approval', {
        approval: {
          id: 'ap-1',
          tier: 3,
          requiredVotes: 2,
          expiresAt: '2030-01-01T00:00:00Z',
          approvals: ['alice'],
          rejections: [],
        },
      }),
      hints,
    );
    expect(s.status).toBe('input_required');
    expect(s.statusMessage).toContain('ap-1');
    expect(s.statusMessage).toContain('1 of 2 approvals');
    expect(s.statusMessage).toContain('http://dash/');
  });

  it('only completed, failed and cancelled are terminal', () => {
    expect(['completed', 'failed', 'cancelled'].every(taskTerminal)).toBe(true);
    expect(['working', 'input_required', 'received'].some(taskTerminal)).toBe(false);
  });
});
