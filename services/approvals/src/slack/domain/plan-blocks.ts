import type { Button, KnownBlock } from '@slack/types';
import type { PlanItemView, PlanView } from '../../plan/domain/plan-view';
import {
  actionsBlock,
  argsDiff,
  escapeMrkdwn,
  SECTION_LIMIT,
  truncate,
  voteButton,
  type SlackMessage,
} from './approval-blocks';

/** Button action ids of a plan message (the button's `value` is the plan id). */
export const PLAN_APPROVE_ALL_ACTION = 'warden_plan_approve_all';
export const PLAN_REJECT_ALL_ACTION = 'warden_plan_reject_all';

/** One item's state in words: its approval (tier, votes so far) or, without one, its run's status. */
export function itemState(i: PlanItemView): string {
  const a = i.approval;
  if (a) {
    const approvals = a.votes.filter((v) => v.vote === 'approve').length;
    switch (a.status) {
      case 'pending':
        return `:hourglass_flowing_sand: needs approval · tier ${a.tier} · ${approvals} of ${a.required_votes}`;
      case 'granted':
        return `:white_check_mark: approved · tier ${a.tier} · run ${i.status}`;
      case 'rejected':
        return `:x: rejected · tier ${a.tier}`;
      case 'expired':
        return `:hourglass: expired · tier ${a.tier}`;
    }
  }
  if (i.status === 'denied')
    return `:no_entry: denied by policy${i.reason ? `: ${escapeMrkdwn(truncate(i.reason, 200))}` : ''}`;
  return `:arrow_forward: ${i.outcome ? `${escapeMrkdwn(i.outcome)}, ` : ''}no approval needed · run ${escapeMrkdwn(i.status)}`;
}

function button(text: string, actionId: string, plan: PlanView, pending: number, style: 'primary' | 'danger'): Button {
  const approve = actionId === PLAN_APPROVE_ALL_ACTION;
  return voteButton(
    { text, actionId, value: plan.id, style },
    {
      title: approve ? 'Approve the whole plan?' : 'Reject the whole plan?',
      text: approve
        ? `Approve all ${pending} waiting item${pending === 1 ? '' : 's'} of agent \`${escapeMrkdwn(plan.agent.id)}\`, each exactly as shown. Items above your tier stay for someone who may decide them.`
        : `Reject all ${pending} waiting item${pending === 1 ? '' : 's'}: their runs end \`rejected\`. To approve a subset use the dashboard or \`POST /v1/plans/${plan.id}/votes\`.`,
      label: approve ? 'Approve all' : 'Reject all',
    },
  );
}

/**
 * The Block Kit message for a plan: who proposed it and why, every item in order (tool, arguments,
 * its approval or its run's status), and "Approve all" / "Reject all" while any item waits. Each item
 * stays bound to its exact action: the buttons vote on the items as shown, one vote per item.
 */
export function planMessage(plan: PlanView, opts: { dashboardUrl?: string } = {}): SlackMessage {
  const pending = plan.items.filter((i) => i.approval?.status === 'pending');
  // items not yet decided by policy (or not yet here) may still ask for approval
  const undecided =
    plan.items.length < plan.count ||
    plan.items.some((i) => !i.approval && (i.status === 'received' || i.status === 'awaiting_approval'));
  const title = pending.length
    ? `Plan approval needed: ${pending.length} of ${plan.count} item${plan.count === 1 ? '' : 's'}`
    : undecided
      ? `Plan of ${plan.count} item${plan.count === 1 ? '' : 's'}: being decided`
      : `Plan decided: ${plan.count} item${plan.count === 1 ? '' : 's'}`;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(title, 150) },
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: truncate(
          `*Agent* \`${escapeMrkdwn(plan.agent.id)}\` (${escapeMrkdwn(plan.agent.role)})${
            plan.session_id ? ` · session \`${escapeMrkdwn(plan.session_id)}\`` : ''
          }${plan.intent ? `\n*Intent* ${escapeMrkdwn(plan.intent)}` : ''}`,
          SECTION_LIMIT,
        ),
      },
    },
  ];
  // Slack allows 50 blocks a message: items share sections when the plan is long
  const lines = plan.items.map(
    (i) =>
      `*${i.index + 1}.* \`${escapeMrkdwn(i.action.tool)}\` — ${itemState(i)}\n\`\`\`${escapeMrkdwn(
        argsDiff(i.action.args, undefined, 400),
      )}\`\`\``,
  );
  const perBlock = Math.max(1, Math.ceil(lines.length / 40));
  for (let k = 0; k < lines.length; k += perBlock)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(lines.slice(k, k + perBlock).join('\n'), SECTION_LIMIT) },
    });
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `plan \`${plan.id}\` · \`/warden plan ${plan.id}\`` }],
  });
  const actions = actionsBlock(
    `warden-plan:${plan.id}`,
    pending.length
      ? [
          button('Approve all', PLAN_APPROVE_ALL_ACTION, plan, pending.length, 'primary'),
          button('Reject all', PLAN_REJECT_ALL_ACTION, plan, pending.length, 'danger'),
        ]
      : [],
    opts.dashboardUrl,
  );
  if (actions) blocks.push(actions);
  return { text: `${title} for agent ${plan.agent.id}`, blocks };
}
