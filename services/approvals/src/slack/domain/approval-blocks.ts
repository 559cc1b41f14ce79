import type { ActionsBlock, Button, ContextBlock, KnownBlock, SectionBlock } from '@slack/types';

/** Button action ids (the button's `value` is the approval id). */
export const APPROVE_ACTION = 'warden_approve';
export const REJECT_ACTION = 'warden_reject';

export type ApprovalStatus = 'pending' | 'granted' | 'rejected' | 'expired';

/** Everything a Slack approval message shows; built from `approval_requested` plus what happened since. */
/** The part of an approval's decision a Slack message shows. */
export interface CardDecision {
  reasons: string[];
  rule_ids: string[];
  mode?: string;
  policy_version?: string;
  rewritten_action?: { tool: string; args: Record<string, unknown> };
}

export interface ApprovalCard {
  approval_id: string;
  run_id: string;
  tier: number;
  required_votes: number;
  agent: { id: string; role: string };
  session_id?: string;
  action: { tool: string; args: Record<string, unknown> };
  decision: CardDecision;
  expires_at: string;
  trace_id?: string;
  status: ApprovalStatus;
  /** Votes so far, operator as shown to people (a name or a `<@U…>` mention). */
  votes?: { operator: string; vote: 'approve' | 'reject'; comment?: string }[];
  /** Who closed it (shown once it is granted or rejected). */
  decided_by?: string[];
  reason?: string;
}

/** A Slack message: blocks plus the notification fallback text. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

/** What a section block's text is cut to (Slack refuses more than 3,000 characters). */
export const SECTION_LIMIT = 2900;

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `s` cut to `max` characters, an ellipsis marking the cut. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** `<!date^…>` shows the expiry in each reader's own time zone, with the ISO time as fallback. */
function slackDate(iso: string): string {
  const secs = Math.floor(Date.parse(iso) / 1000);
  return Number.isFinite(secs) ? `<!date^${secs}^{date_short_pretty} {time}|${iso}>` : escapeMrkdwn(iso);
}

function valueLines(v: unknown): string[] {
  const text = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v, null, 2) ?? String(v));
  return text.split('\n');
}

/**
 * A diff-like view of the arguments: `+ key: value` per argument (each line of a multi-line value
 * prefixed), or `- old` / `+ new` where policy rewrote the action. Long values are cut.
 * @example argsDiff({ path: 'a.md' }) === '+ path: "a.md"'
 */
export function argsDiff(args: Record<string, unknown>, rewritten?: Record<string, unknown>, max = 2400): string {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(args), ...Object.keys(rewritten ?? {})])].sort();
  for (const key of keys) {
    const before = args[key];
    const after = rewritten ? rewritten[key] : before;
    const same = JSON.stringify(before) === JSON.stringify(after);
    const show = (sign: string, v: unknown) =>
      valueLines(v).forEach((line, i) => out.push(`${sign} ${i === 0 ? `${key}: ` : '  '}${truncate(line, 300)}`));
    if (same || !rewritten) show('+', before);
    else {
      if (key in args) show('-', before);
      if (key in rewritten) show('+', after);
    }
  }
  if (keys.length === 0) out.push('  (no arguments)');
  const text = out.join('\n');
  // ``` inside a value would end the code block early
  return truncate(text, max).replace(/```/g, "'''");
}

function tierText(c: ApprovalCard): string {
  const who = c.required_votes === 1 ? 'one approver' : `${c.required_votes} distinct approvers`;
  return `${c.tier} (${who})`;
}

function statusLine(c: ApprovalCard): string {
  const by = (c.decided_by ?? []).join(', ');
  switch (c.status) {
    case 'granted':
      return `:white_check_mark: *Approved*${by ? ` by ${by}` : ''}`;
    case 'rejected':
      return `:x: *Rejected*${by ? ` by ${by}` : ''}${c.reason ? `: ${escapeMrkdwn(c.reason)}` : ''}`;
    case 'expired':
      // an approval closed because its run ended first (cancelled, …) says so (see closeForEndedRun)
      if (c.reason?.startsWith('the run was '))
        return `:no_entry_sign: *Closed* without a decision: ${escapeMrkdwn(c.reason)}`;
      return ':hourglass: *Expired* without a decision: the run ended `expired`.';
    case 'pending':
      return ':hourglass_flowing_sand: *Waiting for approval*';
  }
}

/** A vote button (`value` names what it votes on) behind a confirm dialog: title, mrkdwn text, confirm label. */
export function voteButton(
  b: { text: string; actionId: string; value: string; style: 'primary' | 'danger' },
  confirm: { title: string; text: string; label: string },
): Button {
  return {
    type: 'button',
    action_id: b.actionId,
    text: { type: 'plain_text', text: b.text, emoji: true },
    value: b.value,
    style: b.style,
    confirm: {
      title: { type: 'plain_text', text: confirm.title },
      text: { type: 'mrkdwn', text: confirm.text },
      confirm: { type: 'plain_text', text: confirm.label },
      deny: { type: 'plain_text', text: 'Cancel' },
      style: b.style,
    },
  };
}

/**
 * The message's actions block: the vote buttons (while there is something to vote on) and "Open
 * dashboard" (with a dashboard URL); none when there is neither.
 */
export function actionsBlock(blockId: string, buttons: Button[], dashboardUrl?: string): ActionsBlock | undefined {
  const link = dashboardUrl
    ? [
        {
          type: 'button' as const,
          action_id: 'warden_open',
          text: { type: 'plain_text' as const, text: 'Open dashboard' },
          url: dashboardUrl,
        },
      ]
    : [];
  const elements = [...buttons, ...link];
  return elements.length ? { type: 'actions', block_id: blockId, elements } : undefined;
}

function button(text: string, actionId: string, c: ApprovalCard, style: 'primary' | 'danger'): Button {
  const approve = actionId === APPROVE_ACTION;
  return voteButton(
    { text, actionId, value: c.approval_id, style },
    {
      title: approve ? 'Approve this action?' : 'Reject this action?',
      text: approve
        ? `Run \`${escapeMrkdwn(c.action.tool)}\` for agent \`${escapeMrkdwn(c.agent.id)}\` exactly as shown.`
        : `The run ends \`rejected\` once the approval is rejected. To give a reason use \`/warden reject ${c.approval_id} <reason>\`.`,
      label: approve ? 'Approve' : 'Reject',
    },
  );
}

/**
 * The Block Kit message for an approval: what (tool + a diff-like view of the args), who (agent,
 * session), why (policy reasons and rules), tier, expiry, and Approve / Reject buttons with confirm
 * dialogs while it is pending; once closed, who decided and no buttons.
 */
export function approvalMessage(c: ApprovalCard, opts: { dashboardUrl?: string; preface?: string } = {}): SlackMessage {
  const tool = escapeMrkdwn(c.action.tool);
  const blocks: KnownBlock[] = [];
  if (opts.preface)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(opts.preface, SECTION_LIMIT) } });
  blocks.push({
    type: 'header',
    text: {
      type: 'plain_text',
      text: truncate(`Approval ${c.status === 'pending' ? 'needed' : c.status}: ${c.action.tool}`, 150),
    },
  });
  const fields: SectionBlock['fields'] = [
    { type: 'mrkdwn', text: `*Agent*\n\`${escapeMrkdwn(c.agent.id)}\` (${escapeMrkdwn(c.agent.role)})` },
    { type: 'mrkdwn', text: `*Tier*\n${tierText(c)}` },
    { type: 'mrkdwn', text: `*Expires*\n${slackDate(c.expires_at)}` },
  ];
  if (c.session_id) fields.push({ type: 'mrkdwn', text: `*Session*\n\`${escapeMrkdwn(c.session_id)}\`` });
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*What*: \`${tool}\`` }, fields });
  const reasons = c.decision.reasons.length
    ? c.decision.reasons.map((r) => `• ${escapeMrkdwn(r)}`).join('\n')
    : '• (no reason given)';
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(`*Why*\n${reasons}`, SECTION_LIMIT) } });
  const diff = argsDiff(c.action.args, c.decision.rewritten_action?.args);
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Arguments*\n\`\`\`${escapeMrkdwn(diff)}\`\`\`` } });
  const facts = [
    `run \`${c.run_id}\``,
    `approval \`${c.approval_id}\``,
    ...(c.decision.rule_ids.length
      ? [`rules ${c.decision.rule_ids.map((r) => `\`${escapeMrkdwn(r)}\``).join(', ')}`]
      : []),
    ...(c.decision.policy_version ? [`policy ${escapeMrkdwn(c.decision.policy_version)}`] : []),
    ...(c.trace_id ? [`trace \`${c.trace_id}\``] : []),
  ];
  const context: ContextBlock = {
    type: 'context',
    elements: [{ type: 'mrkdwn', text: truncate(facts.join(' · '), SECTION_LIMIT) }],
  };
  blocks.push(context);
  const votes = c.votes ?? [];
  if (votes.length) {
    const approvals = votes.filter((v) => v.vote === 'approve').length;
    const lines = votes.map(
      (v) =>
        `${v.vote === 'approve' ? ':white_check_mark:' : ':x:'} ${v.operator}${v.comment ? `: ${escapeMrkdwn(truncate(v.comment, 200))}` : ''}`,
    );
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: truncate(`Votes (${approvals} of ${c.required_votes} approvals): ${lines.join(' · ')}`, SECTION_LIMIT),
        },
      ],
    });
  }
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: statusLine(c) } });
  const actions = actionsBlock(
    `warden:${c.approval_id}`,
    c.status === 'pending'
      ? [button('Approve', APPROVE_ACTION, c, 'primary'), button('Reject', REJECT_ACTION, c, 'danger')]
      : [],
    opts.dashboardUrl,
  );
  if (actions) blocks.push(actions);
  const text =
    c.status === 'pending'
      ? `Approval needed (tier ${c.tier}): ${c.action.tool} for agent ${c.agent.id}`
      : `Approval ${c.status}: ${c.action.tool} for agent ${c.agent.id}`;
  return { text, blocks };
}

/** The message posted to the escalation channel when an approval has waited `fraction` of its time. */
export function escalationMessage(
  c: ApprovalCard,
  fraction: number,
  opts: { mention?: string; dashboardUrl?: string } = {},
): SlackMessage {
  const pct = Math.round(fraction * 100);
  const preface = `${opts.mention ? `${opts.mention} ` : ''}:rotating_light: An approval has waited ${pct}% of its time and still needs ${
    c.required_votes === 1 ? 'an approver' : `${c.required_votes} approvers`
  }. It expires ${slackDate(c.expires_at)}.`;
  const m = approvalMessage(c, { dashboardUrl: opts.dashboardUrl, preface });
  return { ...m, text: `Escalation: ${c.action.tool} (tier ${c.tier}) has waited ${pct}% of its time` };
}

/** An ephemeral reply (slash command response or `response_url` post). */
export function ephemeral(
  text: string,
  blocks?: KnownBlock[],
): { response_type: 'ephemeral'; text: string; blocks?: KnownBlock[] } {
  return { response_type: 'ephemeral', text, ...(blocks ? { blocks } : {}) };
}
