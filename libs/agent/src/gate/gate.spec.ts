import { outcomeOfRun } from './gate';
import { outcomeSummary, toolResultJson, toolResultText } from './outcome';
import { wardenToolName } from '../adapters/names';

describe('what a model is told about a gated call', () => {
  it('a succeeded run gives its output (and the rewrite, when policy made one)', () => {
    const o = outcomeOfRun({
      run_id: 'r1',
      status: 'succeeded',
      decision: { rewritten_action: { tool: 'email.draft', args: { to: 'a@b.c' } } },
      result: { output: { ok: true } },
    });
    expect(o).toEqual({
      kind: 'executed',
      runId: 'r1',
      output: { ok: true },
      rewrittenTo: { tool: 'email.draft', args: { to: 'a@b.c' } },
    });
    expect(toolResultJson(o)).toMatchObject({
      status: 'succeeded',
      executed: true,
      rewritten_to: { tool: 'email.draft' },
    });
  });

  it('a denial names the policy reasons and rule ids and says nothing ran', () => {
    const o = outcomeOfRun({
      run_id: 'r2',
      status: 'denied',
      decision: { reasons: ['git.reset discards work'], rule_ids: ['git-reset'] },
    });
    const text = JSON.parse(toolResultText(o)) as Record<string, unknown>;
    expect(text).toMatchObject({
      status: 'denied',
      executed: false,
      reasons: ['git.reset discards work'],
      rule_ids: ['git-reset'],
    });
    expect(String(text.note)).toMatch(/NOT executed.*do not retry it unchanged/);
    expect(outcomeSummary(o)).toBe('denied (git-reset): git.reset discards work');
  });

  it('a failure gives the tool error and flags an unknown outcome; rejections and expiries say who decided', () => {
    expect(
      outcomeOfRun({
        run_id: 'r3',
        status: 'failed',
        result: { error: { code: 'FS.ENOSPC', message: 'disk full' }, outcome_unknown: true },
      }),
    ).toMatchObject({
      status: 'failed',
      reasons: ['FS.ENOSPC: disk full', expect.stringMatching(/may or may not have run/)],
      ruleIds: [],
    });
    expect(outcomeOfRun({ run_id: 'r4', status: 'rejected', approval: { id: 'a1' } })).toMatchObject({
      status: 'rejected',
      approvalId: 'a1',
      reasons: ['a human approver rejected the call'],
    });
    expect(outcomeOfRun({ run_id: 'r5', status: 'expired' })).toMatchObject({ status: 'expired' });
  });

  it('refuses to judge a run that has not ended', () => {
    expect(() => outcomeOfRun({ run_id: 'r6', status: 'awaiting_approval' })).toThrow('not terminal');
  });

  it('a pending approval names the approval to decide', () => {
    expect(toolResultJson({ kind: 'pending_approval', runId: 'r7', approvalId: 'a7' })).toMatchObject({
      status: 'pending_approval',
      executed: false,
      approval_id: 'a7',
    });
  });
});

describe('framework tool names', () => {
  it('maps <namespace>__<name> to Warden names and refuses a name without a namespace', () => {
    expect(wardenToolName('git__commit')).toBe('git.commit');
    expect(wardenToolName('everything__get-sum')).toBe('everything.get-sum');
    expect(wardenToolName('crm.update')).toBe('crm.update');
    expect(wardenToolName('commit', { commit: 'git.commit' })).toBe('git.commit');
    expect(() => wardenToolName('commit')).toThrow(/namespace\.name/);
    expect(() => wardenToolName('Bad__x')).toThrow(/namespace\.name/);
  });
});
