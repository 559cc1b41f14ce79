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
});
