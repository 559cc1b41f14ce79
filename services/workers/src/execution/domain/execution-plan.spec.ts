import { planExecution } from './execution-plan';

describe('planExecution', () => {
  it('executes an unclaimed run', () => {
    expect(planExecution(undefined, false)).toEqual({ kind: 'execute', attempt: 1 });
  });
  it('never runs a finished run again, whatever the tool', () => {
    expect(planExecution({ status: 'succeeded', attempt: 1 }, true)).toEqual({ kind: 'republish' });
    expect(planExecution({ status: 'failed', attempt: 2 }, false)).toEqual({ kind: 'republish' });
  });
  it('re-runs an interrupted idempotent tool as the next attempt', () => {
    expect(planExecution({ status: 'started', attempt: 1 }, true)).toEqual({ kind: 'reexecute', attempt: 2 });
  });
  it('ends an interrupted non-idempotent tool outcome_unknown instead of running it again', () => {
    expect(planExecution({ status: 'started', attempt: 1 }, false)).toEqual({ kind: 'outcome_unknown' });
  });
  it('hands back a claim whose tool never began, whatever the tool: nothing of it happened', () => {
    const waiting = { status: 'started' as const, attempt: 1, began_at: null };
    expect(planExecution(waiting, false)).toEqual({ kind: 'reexecute', attempt: 2, unstarted: true });
    expect(planExecution(waiting, true)).toEqual({ kind: 'reexecute', attempt: 2, unstarted: true });
    // begun: as before
    expect(planExecution({ ...waiting, began_at: new Date() }, false)).toEqual({ kind: 'outcome_unknown' });
    expect(planExecution({ status: 'succeeded', attempt: 1, began_at: null }, false)).toEqual({ kind: 'republish' });
  });
});
