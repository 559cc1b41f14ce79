import { runInNewContext } from 'node:vm';
import {
  EVENT_TYPES,
  NON_TERMINAL_STATUSES,
  RUN_TRANSITIONS,
  RunStatus,
  TERMINAL_STATUSES,
  catchUpStatus,
  isTerminal,
  nextStatus,
  runStatusScript,
  type RunStatusOrNone,
} from './index';

const ALL: RunStatusOrNone[] = ['none', ...RunStatus.options];

describe('run status machine', () => {
  it('lists every status once, terminal or not', () => {
    expect(RunStatus.options).toEqual([...NON_TERMINAL_STATUSES, ...TERMINAL_STATUSES]);
    expect(TERMINAL_STATUSES.every(isTerminal)).toBe(true);
    expect(NON_TERMINAL_STATUSES.some(isTerminal)).toBe(false);
    expect(isTerminal('none')).toBe(false);
  });

  it('names only real event types in its transitions', () => {
    for (const type of Object.keys(RUN_TRANSITIONS)) expect(EVENT_TYPES).toContain(type);
  });

  it('walks the happy path: received → queued → running → succeeded', () => {
    let s: RunStatusOrNone = 'none';
    for (const type of ['task_received', 'decision_made', 'run_queued', 'run_started', 'run_succeeded'])
      s = nextStatus(s, type);
    expect(s).toBe('succeeded');
  });

  it('walks the approval path: received → awaiting_approval → queued (granted) or rejected / expired', () => {
    expect(nextStatus('received', 'approval_requested')).toBe('awaiting_approval');
    expect(nextStatus('awaiting_approval', 'approval_granted')).toBe('awaiting_approval');
    expect(nextStatus('awaiting_approval', 'run_queued')).toBe('queued');
    expect(nextStatus('awaiting_approval', 'approval_rejected')).toBe('rejected');
    expect(nextStatus('awaiting_approval', 'approval_expired')).toBe('expired');
  });

  it('refuses transitions from the wrong status (the status is unchanged)', () => {
    expect(nextStatus('received', 'run_started')).toBe('received');
    expect(nextStatus('running', 'run_queued')).toBe('running');
    expect(nextStatus('queued', 'approval_rejected')).toBe('queued');
    expect(nextStatus('received', 'task_received')).toBe('received');
    expect(nextStatus('none', 'run_succeeded')).toBe('none');
    expect(nextStatus('queued', 'no_such_event')).toBe('queued');
    expect(nextStatus('queued', 'constructor')).toBe('queued'); // not an inherited key
  });

  it('never leaves a terminal status, whatever the event', () => {
    for (const s of TERMINAL_STATUSES)
      for (const type of [...EVENT_TYPES, 'nope']) {
        expect(nextStatus(s, type)).toBe(s);
        expect(catchUpStatus(s, type)).toBe(s);
      }
  });

  it('catches up from a stale or unknown status to the event target, but not past a terminal one', () => {
    expect(catchUpStatus(null, 'run_started')).toBe('running');
    expect(catchUpStatus('received', 'run_started')).toBe('running');
    expect(catchUpStatus(null, 'decision_made')).toBeNull();
    expect(catchUpStatus('queued', 'approval_granted')).toBe('queued');
    expect(catchUpStatus('cancelled', 'run_succeeded')).toBe('cancelled');
  });

  it('serves the same machine to the browser: the script agrees with nextStatus and catchUpStatus on every pair', () => {
    const window: { WardenRunStatus?: Record<string, unknown> } = {};
    runInNewContext(runStatusScript(), { window });
    const browser = window.WardenRunStatus as unknown as {
      TERMINAL_STATUSES: string[];
      RUN_TRANSITIONS: unknown;
      isTerminal: typeof isTerminal;
      nextStatus: typeof nextStatus;
      catchUpStatus: typeof catchUpStatus;
    };
    expect(browser.TERMINAL_STATUSES).toEqual([...TERMINAL_STATUSES]);
    expect(JSON.parse(JSON.stringify(browser.RUN_TRANSITIONS))).toEqual(JSON.parse(JSON.stringify(RUN_TRANSITIONS)));
    for (const s of ALL) {
      expect(browser.isTerminal(s)).toBe(isTerminal(s));
      for (const type of [...EVENT_TYPES, 'nope']) {
        expect(browser.nextStatus(s, type)).toBe(nextStatus(s, type));
        if (s !== 'none') expect(browser.catchUpStatus(s, type)).toBe(catchUpStatus(s, type));
      }
    }
    for (const type of EVENT_TYPES) expect(browser.catchUpStatus(null, type)).toBe(catchUpStatus(null, type));
  });
});
