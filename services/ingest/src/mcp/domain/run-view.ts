import {
  isTerminal,
  nextStatus,
  type Action,
  type AnyEnvelope,
  type Decision,
  type FieldError,
  type RunResult,
  type RunStatus,
} from '@warden/contracts';

/**
 * What the MCP gateway knows of a run: the fold of its (authentic) events, with the status rules of
 * the orchestrator (contract §2, `nextStatus` in @warden/contracts): once terminal, no event changes it.
 */
export interface RunView {
  runId: string;
  status: RunStatus | 'none';
  action?: Action;
  decision?: Decision;
  approval?: {
    id: string;
    tier: number;
    requiredVotes: number;
    expiresAt: string;
    approvals: string[];
    rejections: { operator: string; comment?: string }[];
    reason?: string;
  };
  denied?: { reasons: string[]; ruleIds: string[] };
  cancelled?: { by: string; reason?: string };
  result?: RunResult;
}

export function emptyView(runId: string): RunView {
  return { runId, status: 'none' };
}

/**
 * Applies one event of the run to its view. Pure. The status moves only by the contracts' one run
 * status machine ({@link nextStatus}); this fold adds what the gateway shows beside it (the decision,
 * the approval's votes, the result, why a run was denied or cancelled), taken from the event that
 * made the transition.
 */
export function evolveView(v: RunView, env: AnyEnvelope): RunView {
  if (env.run_id !== v.runId) return v;
  const before = v.status;
  const status = nextStatus(before, env.type);
  const moved = status !== before;
  switch (env.type) {
    case 'task_received':
      return moved ? { ...v, status, action: env.data.submission.action } : v;
    case 'decision_made':
      return v.decision || (before !== 'none' && isTerminal(before)) ? v : { ...v, decision: env.data };
    case 'approval_requested':
      if (!moved) return v;
      return {
        ...v,
        status,
        approval: {
          id: env.data.approval_id,
          tier: env.data.tier,
          requiredVotes: env.data.required_votes,
          expiresAt: env.data.expires_at,
          approvals: [],
          rejections: [],
        },
      };
    case 'approval_vote': {
      const a = v.approval;
      if (before !== 'awaiting_approval' || a?.id !== env.data.approval_id) return v;
      const operator = env.data.operator;
      if (env.data.vote === 'approve')
        return a.approvals.includes(operator) ? v : { ...v, approval: { ...a, approvals: [...a.approvals, operator] } };
      return {
        ...v,
        approval: {
          ...a,
          rejections: [...a.rejections, { operator, ...(env.data.comment ? { comment: env.data.comment } : {}) }],
        },
      };
    }
    case 'approval_granted':
    case 'approval_rejected':
    case 'approval_expired': {
      const a = v.approval;
      if (before !== 'awaiting_approval' || a?.id !== env.data.approval_id) return v;
      return { ...v, status, approval: { ...a, ...(env.data.reason ? { reason: env.data.reason } : {}) } };
    }
    case 'run_succeeded':
    case 'run_failed':
    case 'execution_succeeded':
    case 'execution_failed':
      return moved ? { ...v, status, result: env.data.result } : v;
    case 'run_denied':
      return moved ? { ...v, status, denied: { reasons: env.data.reasons, ruleIds: env.data.rule_ids } } : v;
    case 'run_cancelled':
      return moved
        ? { ...v, status, cancelled: { by: env.data.by, ...(env.data.reason ? { reason: env.data.reason } : {}) } }
        : v;
    default:
      return moved ? { ...v, status } : v;
  }
}

export function viewTerminal(v: RunView): boolean {
  return v.status !== 'none' && isTerminal(v.status);
}

/** `_meta["warden/run"]` of every result. */
export interface RunMeta {
  run_id: string;
  status: string;
  outcome: string | null;
  tier: number | null;
  policy_digest: string | null;
}

export function runMeta(v: RunView): RunMeta {
  return {
    run_id: v.runId,
    status: v.status === 'none' ? 'received' : v.status,
    outcome: v.decision?.outcome ?? null,
    tier: v.decision?.tier ?? null,
    policy_digest: v.decision?.policy_digest ?? null,
  };
}

/** A `CallToolResult` as the gateway builds it. */
export interface ToolCallResult {
  [k: string]: unknown;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

/** Where people decide approvals, for the texts that name one. */
export interface ApprovalHints {
  dashboardUrl: string;
}

const MAX_TEXT = 64 * 1024;

function clip(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}… (cut at ${MAX_TEXT} characters)`;
}

function withMeta(v: RunView, r: Pick<ToolCallResult, 'content' | 'structuredContent' | 'isError'>): ToolCallResult {
  return { ...r, _meta: { 'warden/run': runMeta(v) } };
}

function listRules(ruleIds: readonly string[]): string {
  return ruleIds.length ? ` (policy rules: ${ruleIds.join(', ')})` : '';
}

function listReasons(reasons: readonly string[]): string {
  return reasons.length ? reasons.map((r) => `- ${r}`).join('\n') : '- (no reason recorded)';
}

/** Says what a compute decision changed, or nothing when the action ran as proposed. */
export function rewriteNote(v: RunView): string | undefined {
  const d = v.decision;
  if (!d || d.outcome !== 'compute' || d.mode === 'observe' || !d.rewritten_action) return undefined;
  const proposed = v.action ? `${v.action.tool} ${JSON.stringify(v.action.args)}` : '(the proposed action)';
  const ran = `${d.rewritten_action.tool} ${JSON.stringify(d.rewritten_action.args)}`;
  return (
    `Warden changed this call before it ran${listRules(d.rule_ids)}: you proposed ${proposed}; ` +
    `it ran ${ran} instead. Why: ${d.reasons.join('; ') || 'policy rewrite'}.`
  );
}

/** How a waiting approval reads to a model and to the person watching the client. */
export function approvalWaitText(v: RunView, hints: ApprovalHints): string {
  const a = v.approval;
  if (!a) return `Run ${v.runId} is ${v.status}.`;
  const votes = `${a.approvals.length} of ${a.requiredVotes} approval${a.requiredVotes === 1 ? '' : 's'}`;
  return (
    `Waiting for human approval ${a.id} (tier ${a.tier}, ${votes}, expires ${a.expiresAt}). ` +
    `Decide it in the Warden dashboard at ${hints.dashboardUrl} or with \`npx warden approve ${a.id}\`. Run ${v.runId}.`
  );
}

/** The result of a terminal run (contract §7). */
export function terminalResult(v: RunView): ToolCallResult {
  switch (v.status) {
    case 'succeeded': {
      const output = v.result?.output ?? null;
      const structured =
        typeof output === 'object' && output !== null && !Array.isArray(output)
          ? (output as Record<string, unknown>)
          : { output };
      const note = rewriteNote(v);
      const text = clip(typeof output === 'string' ? output : JSON.stringify(output, null, 2));
      const truncated = v.result?.truncated ? '\n(The output was cut to the size limit.)' : '';
      return withMeta(v, {
        content: [...(note ? [{ type: 'text' as const, text: note }] : []), { type: 'text', text: text + truncated }],
        structuredContent: structured,
      });
    }
    case 'failed': {
      const e = v.result?.error;
      const unknown = v.result?.outcome_unknown
        ? ' The action may or may not have taken effect: check its effect before proposing it again.'
        : '';
      const note = rewriteNote(v);
      return withMeta(v, {
        isError: true,
        content: [
          {
            type: 'text',
            text:
              `The action was allowed but failed when it ran: ${e ? `${e.code}: ${e.message}` : 'no error recorded'}.` +
              unknown +
              (note ? `\n${note}` : '') +
              ' Fix the cause (for example the arguments) before trying again.',
          },
        ],
        ...(v.result?.output != null ? { structuredContent: { output: v.result.output, error: e ?? null } } : {}),
      });
    }
    case 'denied': {
      const reasons = v.denied?.reasons ?? v.decision?.reasons ?? [];
      const rules = v.denied?.ruleIds ?? v.decision?.rule_ids ?? [];
      return withMeta(v, {
        isError: true,
        content: [
          {
            type: 'text',
            text:
              `Warden policy denied this call${listRules(rules)}; nothing was run. Why:\n${listReasons(reasons)}\n` +
              'Do not repeat the same call: it will be denied again. Choose an action the policy allows (for ' +
              'example a narrower one, or a path inside the workspace), or ask the user to have an operator ' +
              'approve or change the policy.',
          },
        ],
      });
    }
    case 'rejected': {
      const rej = v.approval?.rejections ?? [];
      const who = rej.length
        ? rej.map((r) => `${r.operator}${r.comment ? `: "${r.comment}"` : ''}`).join('; ')
        : (v.approval?.reason ?? 'an approver');
      return withMeta(v, {
        isError: true,
        content: [
          {
            type: 'text',
            text:
              `A human rejected this call (approval ${v.approval?.id ?? '?'}; ${who}); nothing was run. ` +
              "Do not repeat it unchanged: follow the reviewer's comment, choose another way, or ask the user.",
          },
        ],
      });
    }
    case 'expired':
      return withMeta(v, {
        isError: true,
        content: [
          {
            type: 'text',
            text:
              `Nobody decided approval ${v.approval?.id ?? '?'} before it expired (${v.approval?.expiresAt ?? '?'}); ` +
              'nothing was run. Ask the user whether to propose it again, and who should approve it.',
          },
        ],
      });
    case 'cancelled':
      return withMeta(v, {
        isError: true,
        content: [
          {
            type: 'text',
            text: `This call was cancelled by ${v.cancelled?.by ?? 'an operator'}${v.cancelled?.reason ? ` (${v.cancelled.reason})` : ''}; nothing more will run.`,
          },
        ],
      });
    default:
      throw new Error(`run ${v.runId} is not terminal (${v.status})`);
  }
}

/** The (non-error) result of a call still waiting after the gateway's wait: how to resume. */
export function pendingResult(v: RunView, hints: ApprovalHints, awaitTool: string): ToolCallResult {
  const waiting =
    v.status === 'awaiting_approval'
      ? approvalWaitText(v, hints)
      : `Run ${v.runId} is ${v.status === 'none' ? 'received' : v.status} and has not finished yet.`;
  return withMeta(v, {
    content: [
      {
        type: 'text',
        text:
          `This call has not finished: it is still waiting. ${waiting}\n` +
          `Call ${awaitTool} with {"run_id": "${v.runId}"} to wait for its outcome. Do not repeat the original call.`,
      },
    ],
    structuredContent: {
      waiting: true,
      run_id: v.runId,
      status: runMeta(v).status,
      ...(v.approval && v.status === 'awaiting_approval'
        ? { approval_id: v.approval.id, tier: v.approval.tier, dashboard_url: hints.dashboardUrl }
        : {}),
      resume_with: { tool: awaitTool, arguments: { run_id: v.runId } },
    },
  });
}

/** An error result for a call that was never proposed (invalid arguments, unknown tool, …). */
export function refusedResult(text: string, errors: readonly FieldError[] = []): ToolCallResult {
  const fields = errors.length ? `\n${errors.map((e) => `- ${e.path || '(root)'}: ${e.message}`).join('\n')}` : '';
  // no run exists: the meta says so, in the same shape
  const meta: Omit<RunMeta, 'run_id'> & { run_id: null } = {
    run_id: null,
    status: 'not_submitted',
    outcome: null,
    tier: null,
    policy_digest: null,
  };
  return {
    isError: true,
    content: [{ type: 'text', text: text + fields }],
    ...(errors.length
      ? { structuredContent: { errors: errors.map((e) => ({ path: e.path, message: e.message })) } }
      : {}),
    _meta: { 'warden/run': meta },
  };
}
