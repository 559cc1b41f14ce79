import type { RunResult } from '@warden/contracts';
import { DomainError, TransientError, sha256Canonical } from '@warden/kernel';
import { planExecution } from './execution-plan';
import {
  completionEvent,
  completionOutcome,
  decideRun,
  isClaimingMessage,
  notInRoleResult,
  replayRefusal,
  resultStatus,
  settleFollower,
  settleLead,
  type ClaimOwner,
  type CommandMessage,
  type RunDecision,
} from './settlement';

const RUN = '3b1f0c9e-2f55-4d39-9a43-5a3a0e0a7c11';
const CMD = 'a0000000-0000-4000-8000-000000000001';
const OTHER_CMD = 'a0000000-0000-4000-8000-000000000002';

const notInRole = () => new DomainError('COMMAND.TOOL_NOT_IN_ROLE', 'role "dev" has no tool "http.get"');
/** The message that claimed the run: command CMD, stream sequence 7. */
const claimer: CommandMessage = { commandId: CMD, seq: 7 };
/** The claim row it left (sequences come back from Postgres as text). */
const claim: ClaimOwner = { command_id: CMD, stream_seq: '7' };

describe('isClaimingMessage', () => {
  it('given a claim with a stream sequence, only the message at that sequence claimed it', () => {
    expect(isClaimingMessage(claim, claimer)).toBe(true);
    // the same command re-published is another message
    expect(isClaimingMessage(claim, { commandId: CMD, seq: 8 })).toBe(false);
  });

  it('given an old claim without a sequence, any message of the same command claimed it', () => {
    const old: ClaimOwner = { command_id: CMD, stream_seq: null };
    expect(isClaimingMessage(old, { commandId: CMD, seq: 99 })).toBe(true);
    expect(isClaimingMessage(old, { commandId: OTHER_CMD, seq: 7 })).toBe(false);
  });
});

describe('decideRun', () => {
  describe('given a run nobody claimed', () => {
    const plan = planExecution(undefined, false);

    it('when an authentic command arrives, then it is claimed and run', () => {
      expect(decideRun(RUN, plan, undefined, claimer)).toEqual({ kind: 'claim' });
    });

    it('when the command is for a tool outside the role, then the run is claimed already ended TOOL.NOT_IN_ROLE', () => {
      const refusal = notInRole();
      const decision = decideRun(RUN, plan, undefined, { ...claimer, refusal });
      expect(decision).toEqual({ kind: 'end_refused', result: notInRoleResult(refusal), refusal });
      expect(decision.kind === 'end_refused' && decision.result).toEqual({
        output: null,
        output_hash: sha256Canonical(null),
        error: { code: 'TOOL.NOT_IN_ROLE', message: 'role "dev" has no tool "http.get"' },
      });
    });
  });

  describe('given a finished run', () => {
    const plan = planExecution({ status: 'succeeded', attempt: 1 }, true);

    it('when the claiming message is redelivered, then its completion is republished', () => {
      expect(decideRun(RUN, plan, claim, claimer)).toEqual({ kind: 'republish' });
    });

    it('when another message of the same command arrives, then it is refused COMMAND.REPLAYED', () => {
      const decision = decideRun(RUN, plan, claim, { commandId: CMD, seq: 8 });
      expect(decision).toEqual({ kind: 'refuse', error: replayRefusal(RUN) });
      expect(decision.kind === 'refuse' && decision.error.code).toBe('COMMAND.REPLAYED');
      expect(decision.kind === 'refuse' && decision.error.message).toBe(
        `run ${RUN} was already executed by another command message`,
      );
    });

    it('when another command for the run arrives, then it is refused COMMAND.REPLAYED', () => {
      expect(decideRun(RUN, plan, claim, { commandId: OTHER_CMD, seq: 12 })).toMatchObject({
        kind: 'refuse',
        error: { code: 'COMMAND.REPLAYED' },
      });
    });

    it('when the not-in-role command that ended it is redelivered, then its ending is republished and it stays refused', () => {
      const refusal = notInRole();
      expect(decideRun(RUN, plan, claim, { ...claimer, refusal })).toEqual({ kind: 'republish', refusal });
    });

    it('when a not-in-role command of another message arrives, then it is only refused (no replay code)', () => {
      const refusal = notInRole();
      expect(decideRun(RUN, plan, claim, { commandId: OTHER_CMD, seq: 12, refusal })).toEqual({
        kind: 'refuse',
        error: refusal,
      });
    });
  });

  describe('given a claim whose worker is gone', () => {
    it('when its tool never began, then the claim is handed back and runs as the next attempt', () => {
      const plan = planExecution({ status: 'started', attempt: 1, began_at: null }, false);
      expect(decideRun(RUN, plan, claim, claimer)).toEqual({ kind: 'take_over', attempt: 2, unstarted: true });
    });

    it('when an idempotent tool had begun, then it runs again as the next attempt', () => {
      const plan = planExecution({ status: 'started', attempt: 2, began_at: new Date(0) }, true);
      expect(decideRun(RUN, plan, claim, { commandId: OTHER_CMD, seq: 9 })).toEqual({
        kind: 'take_over',
        attempt: 3,
        unstarted: false,
      });
    });

    it('when a non-idempotent tool had begun, then the run ends outcome_unknown without running', () => {
      const plan = planExecution({ status: 'started', attempt: 1, began_at: new Date(0) }, false);
      expect(decideRun(RUN, plan, claim, claimer)).toEqual({ kind: 'outcome_unknown' });
    });

    it('when a not-in-role command arrives, then it never ends or takes over that run', () => {
      const refusal = notInRole();
      const unstarted = planExecution({ status: 'started', attempt: 1, began_at: null }, false);
      const begun = planExecution({ status: 'started', attempt: 1, began_at: new Date(0) }, false);
      expect(decideRun(RUN, unstarted, claim, { ...claimer, refusal })).toEqual({ kind: 'refuse', error: refusal });
      expect(decideRun(RUN, begun, claim, { ...claimer, refusal })).toEqual({ kind: 'refuse', error: refusal });
    });
  });
});

describe('settleLead', () => {
  const refusal = notInRole();

  it('given a run that went through, then the lead is done (acked)', () => {
    expect(settleLead({ kind: 'claim' }, undefined)).toBeUndefined();
    expect(settleLead({ kind: 'republish' }, undefined)).toBeUndefined();
  });

  it('given a not-in-role run ended (or its ending republished), then the lead settles with its refusal', () => {
    expect(settleLead({ kind: 'end_refused', result: notInRoleResult(refusal), refusal }, undefined)).toBe(refusal);
    expect(settleLead({ kind: 'republish', refusal }, undefined)).toBe(refusal);
  });

  it('given a refused run, then the lead settles with the refusal', () => {
    const replay = replayRefusal(RUN);
    expect(settleLead({ kind: 'refuse', error: replay }, replay)).toBe(replay);
  });

  it('given an error on the way (publish failed, busy), then that error wins over a refusal', () => {
    const busy = new TransientError('publish failed');
    expect(settleLead({ kind: 'end_refused', result: notInRoleResult(refusal), refusal }, busy)).toBe(busy);
  });
});

describe('settleFollower', () => {
  it('given a lead that must be retried, then the follower is retried with the same error', () => {
    const err = new TransientError('postgres went away');
    expect(settleFollower(RUN, err, claim, claimer)).toBe(err);
    // even a follower that is not the claiming message: nothing is known yet
    expect(settleFollower(RUN, err, undefined, { commandId: OTHER_CMD, seq: 3 })).toBe(err);
  });

  it('given a done run, when the follower is another message, then it is refused COMMAND.REPLAYED', () => {
    expect(settleFollower(RUN, undefined, claim, { commandId: CMD, seq: 8 })).toEqual(replayRefusal(RUN));
  });

  it('given no claim at all (the lead was refused), then the follower is a replay', () => {
    expect(settleFollower(RUN, replayRefusal(RUN), undefined, claimer)).toEqual(replayRefusal(RUN));
  });

  it('given a follower for a tool outside the role that is not the claimer, then it settles with its own refusal', () => {
    const refusal = notInRole();
    expect(settleFollower(RUN, undefined, claim, { commandId: OTHER_CMD, seq: 8, refusal })).toBe(refusal);
  });

  it('given a refused lead (a replay) and the claiming message behind it, then that message retries alone', () => {
    const out = settleFollower(RUN, replayRefusal(RUN), claim, claimer);
    expect(out).toBeInstanceOf(TransientError);
    expect((out as Error).message).toBe(`run ${RUN}: retry alone`);
  });

  it('given a done run, when the follower is the claiming message (a redelivery in the same batch), then it is done', () => {
    expect(settleFollower(RUN, undefined, claim, claimer)).toBeUndefined();
  });

  it('given a done run, when the follower is the claiming not-in-role message, then it keeps its refusal', () => {
    const refusal = notInRole();
    expect(settleFollower(RUN, undefined, claim, { ...claimer, refusal })).toBe(refusal);
  });
});

describe('resultStatus', () => {
  it('records a result with an error as failed, any other as succeeded', () => {
    expect(resultStatus({ output: 1, output_hash: 'h' })).toBe('succeeded');
    expect(resultStatus(notInRoleResult(notInRole()))).toBe('failed');
  });
});

describe('completionOutcome', () => {
  const refusal = notInRole();
  const cases: [RunDecision, 'succeeded' | 'failed', string][] = [
    [{ kind: 'claim' }, 'succeeded', 'succeeded'],
    [{ kind: 'claim' }, 'failed', 'failed'],
    [{ kind: 'take_over', attempt: 2, unstarted: true }, 'succeeded', 'succeeded'],
    [{ kind: 'outcome_unknown' }, 'failed', 'outcome_unknown'],
    [{ kind: 'end_refused', result: notInRoleResult(refusal), refusal }, 'failed', 'tool_not_in_role'],
  ];
  it.each(cases)('given %o finished %s, then it is counted as %s', (decision, status, outcome) => {
    expect(completionOutcome(decision, status)).toBe(outcome);
  });
});

describe('completionEvent', () => {
  const ok: RunResult = { output: { bytes: 2 }, output_hash: 'h' };

  it('given a succeeded run, then run_succeeded carries its result', () => {
    expect(completionEvent({ run_id: RUN, status: 'succeeded', result: ok })).toEqual({
      type: 'run_succeeded',
      result: ok,
    });
  });

  it('given a failed run, then run_failed carries its result', () => {
    const failed = notInRoleResult(notInRole());
    expect(completionEvent({ run_id: RUN, status: 'failed', result: failed })).toEqual({
      type: 'run_failed',
      result: failed,
    });
  });

  it('given a row without a result, then there is nothing to publish', () => {
    expect(() => completionEvent({ run_id: RUN, status: 'started', result: null })).toThrow(
      `run ${RUN} has no recorded result to publish`,
    );
  });
});
