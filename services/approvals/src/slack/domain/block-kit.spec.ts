import type * as Slack from '@slack/types';
import type * as Ours from './block-kit';
import { approvalMessage } from './approval-blocks';

/** `true` only when every `A` is a `B` (checked by the compiler: `tsc -p tsconfig.spec.json`). */
type Assignable<A, B> = [A] extends [B] ? true : false;

describe('block-kit: the domain block types are Slack Block Kit types', () => {
  it('each type is assignable to its @slack/types counterpart', () => {
    const checks: [
      Assignable<Ours.KnownBlock, Slack.KnownBlock>,
      Assignable<Ours.SectionBlock, Slack.SectionBlock>,
      Assignable<Ours.ContextBlock, Slack.ContextBlock>,
      Assignable<Ours.HeaderBlock, Slack.HeaderBlock>,
      Assignable<Ours.ActionsBlock, Slack.ActionsBlock>,
      Assignable<Ours.Button, Slack.Button>,
    ] = [true, true, true, true, true, true];
    expect(checks).toEqual([true, true, true, true, true, true]);
  });

  it('a built message holds only the block kinds the subset names', () => {
    const msg = approvalMessage({
      approval_id: 'a1',
      run_id: 'r1',
      tier: 3,
      required_votes: 2,
      agent: { id: 'agent-7', role: 'dev' },
      session_id: 's1',
      action: { tool: 'shell.exec', args: { cmd: 'ls' } },
      decision: { reasons: ['risky'], rule_ids: ['r'] },
      expires_at: '2026-11-21T11:00:00.000Z',
      status: 'pending',
      votes: [{ operator: 'alice', vote: 'approve' }],
    });
    const kinds = new Set(msg.blocks.map((b) => b.type));
    expect([...kinds].every((k) => ['actions', 'context', 'header', 'section'].includes(k))).toBe(true);
  });
});
