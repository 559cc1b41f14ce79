import type { ActionsBlock, SectionBlock } from '@slack/types';
import {
  APPROVE_ACTION,
  REJECT_ACTION,
  approvalMessage,
  argsDiff,
  escalationMessage,
  escapeMrkdwn,
  type ApprovalCard,
} from './approval-blocks';

const card: ApprovalCard = {
  approval_id: '0b6f0d4e-8e0f-4f1c-a2a3-6c7f2d9b7e51',
  run_id: '1b6f0d4e-8e0f-4f1c-a2a3-6c7f2d9b7e51',
  tier: 3,
  required_votes: 2,
  agent: { id: 'agent-7', role: 'dev' },
  session_id: 'sess-42',
  action: { tool: 'fs.write_file', args: { path: 'prod/app.yaml', content: 'replicas: 3\nimage: <new>' } },
  decision: { reasons: ['writing under prod/ needs two approvers'], rule_ids: ['fs-write-prod'], policy_version: 'v1' },
  expires_at: '2026-11-21T11:00:00.000Z',
  trace_id: 'a'.repeat(32),
  status: 'pending',
};

const text = (m: { blocks: unknown[] }) => JSON.stringify(m.blocks);

describe('Slack Block Kit for approvals', () => {
  it('shows what, who, why, tier, expiry and the arguments, with confirmable Approve / Reject buttons', () => {
    const m = approvalMessage(card);
    const all = text(m);
    expect(all).toContain('fs.write_file');
    expect(all).toContain('agent-7');
    expect(all).toContain('sess-42');
    expect(all).toContain('writing under prod/ needs two approvers');
    expect(all).toContain('3 (2 distinct approvers)');
    expect(all).toContain(`<!date^${Date.parse(card.expires_at) / 1000}^`);
    expect(all).toContain('+ path: \\"prod/app.yaml\\"');
    const actions = m.blocks.find((b) => b.type === 'actions') as ActionsBlock;
    const buttons = actions.elements as { action_id: string; value: string; confirm?: unknown }[];
    expect(buttons.map((b) => b.action_id)).toEqual([APPROVE_ACTION, REJECT_ACTION]);
    expect(buttons.every((b) => b.value === card.approval_id && b.confirm)).toBe(true);
    expect(m.text).toBe('Approval needed (tier 3): fs.write_file for agent agent-7');
  });

  it('escapes Slack control characters in agent-controlled text', () => {
    const m = approvalMessage({ ...card, agent: { id: '<!channel>', role: 'dev' } });
    expect(text(m)).not.toContain('<!channel>');
    expect(text(m)).toContain('&lt;!channel&gt;');
    expect(escapeMrkdwn('a & <b>')).toBe('a &amp; &lt;b&gt;');
  });

  it('drops the buttons and says who decided once the approval closes', () => {
    const m = approvalMessage({ ...card, status: 'granted', decided_by: ['alice', 'bob'] });
    expect(m.blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(text(m)).toContain('*Approved* by alice, bob');
    const r = approvalMessage({ ...card, status: 'rejected', decided_by: ['carol'], reason: 'not today' });
    expect(text(r)).toContain('*Rejected* by carol: not today');
    expect(text(approvalMessage({ ...card, status: 'expired' }))).toContain('*Expired*');
  });

  it('shows votes so far while open', () => {
    const m = approvalMessage({ ...card, votes: [{ operator: 'alice', vote: 'approve', comment: 'ok' }] });
    expect(text(m)).toContain('Votes (1 of 2 approvals)');
  });

  it('renders a diff-like view: + per argument, - / + where policy rewrote it, and cuts long values', () => {
    expect(argsDiff({ b: 1, a: 'x' })).toBe('+ a: "x"\n+ b: 1');
    expect(argsDiff({ path: 'a', mode: 'w' }, { path: 'safe/a', mode: 'w' })).toBe(
      '+ mode: "w"\n- path: "a"\n+ path: "safe/a"',
    );
    expect(argsDiff({})).toBe('  (no arguments)');
    expect(argsDiff({ big: 'x'.repeat(10_000) }).length).toBeLessThanOrEqual(2400);
    expect(argsDiff({ s: '```' })).not.toContain('```');
  });

  it('prefaces an escalation with the mention and how long it has waited', () => {
    const m = escalationMessage(card, 0.5, { mention: '<!here>' });
    const first = m.blocks[0] as SectionBlock;
    expect(first.text?.text).toContain('<!here>');
    expect(first.text?.text).toContain('waited 50%');
    expect(m.blocks.some((b) => b.type === 'actions')).toBe(true);
  });
});
