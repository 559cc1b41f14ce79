import { randomUUID } from 'node:crypto';
import type { ChatMessage, ChatModel, TokenUsage, ToolCall, ToolDefinition } from '../model/chat-model';
import { NO_USAGE, addUsage } from '../model/chat-model';
import { outcomeSummary, toolResultText, type GateOutcome } from '../gate/outcome';
import { wardenGate, type EscalationMode, type Gate, type GateClient } from '../gate/gate';
import { roleToolDefinitions } from './role-tools';

/** Why the loop stopped. */
export type AgentStopReason =
  /** The model answered without calling a tool. */
  | 'answered'
  /** `maxSteps` model calls were made. */
  | 'max_steps'
  /** `maxConsecutiveRefusals` calls in a row were refused: the agent is stuck against the policy. */
  | 'refusals'
  /** A call escalated and `onEscalation: 'return'`: the run waits for a human. */
  | 'pending_approval';

/** One tool call the agent made and what Warden made of it. */
export interface AgentCall {
  step: number;
  tool: string;
  args: Record<string, unknown>;
  outcome: GateOutcome;
}

/** What {@link runAgent} returns. */
export interface AgentResult {
  stopReason: AgentStopReason;
  /** The model's last text (its answer when `stopReason` is `answered`). */
  answer: string;
  /** Model calls made. */
  steps: number;
  /** Warden session of the run (every proposal carried it). */
  session: string;
  calls: AgentCall[];
  /** Tokens (and cost) of every model response. */
  usage: TokenUsage;
  /** The pending approval when `stopReason` is `pending_approval`. */
  pending?: { runId: string; approvalId?: string };
  messages: ChatMessage[];
}

/** Progress, for a CLI or a log. */
export type AgentEvent =
  | { type: 'model'; step: number; text: string; toolCalls: ToolCall[]; usage: TokenUsage }
  | { type: 'call'; step: number; tool: string; args: Record<string, unknown>; outcome: GateOutcome };

export interface RunAgentOptions {
  /** What the user wants done. */
  goal: string;
  /** The agent's role: the tools it is offered are this role's worker tools. Must be the API key's role. */
  role: string;
  model: ChatModel;
  /** A `@warden/client` WardenClient (its API key is the agent's identity). */
  client?: GateClient;
  /** Instead of `client`: any gate (tests, a custom transport). */
  gate?: Gate;
  /** Model calls at most (default 20). */
  maxSteps?: number;
  /** Stop after this many refused calls in a row (default 3). */
  maxConsecutiveRefusals?: number;
  /** `wait` (default): an escalated call waits for the approvers; `return`: stop with the pending approval. */
  onEscalation?: EscalationMode;
  /** Warden session id (default: a new one per run). */
  session?: string;
  /** Offer only these tools of the role. */
  tools?: readonly string[];
  /** Replaces the default system prompt. */
  system?: string;
  onEvent?: (e: AgentEvent) => void;
  signal?: AbortSignal;
}

/** The default system prompt: what the agent is and how Warden answers. */
export function defaultSystemPrompt(role: string): string {
  return [
    `You are an autonomous agent with the role "${role}". You act only through the tools you are given.`,
    'Every tool call is judged by Warden policy before it runs: it may run, be denied, be rewritten to a safer',
    'action, or wait for a human approval. A tool result with "executed": false did not run; read its reasons',
    'and rule_ids, and do not repeat a refused call unchanged: change the approach or explain why you cannot.',
    'File paths are relative to the workspace. When the goal is done, answer with a short summary and no tool call.',
  ].join(' ');
}

/**
 * The reference agent loop: the model proposes tool calls, every call goes through Warden (one session
 * per run, as the key's agent), results and refusals go back to the model as tool results, and it
 * stops when the model answers, after `maxSteps`, when refusals repeat, or (with
 * `onEscalation: 'return'`) at the first call that needs a human. Each model response's token usage
 * goes on the proposals it produced (`usage.tokens`, `usage.cost_usd`), so session budgets count
 * real tokens: the first proposal after a response carries it, the others from the same response 0.
 * @example
 * const client = new WardenClient({ baseUrl: 'http://127.0.0.1:7101', apiKey: process.env.WARDEN_API_KEY! });
 * const result = await runAgent({ goal: 'Write hello.md', role: 'dev', model: createChatModel('openai:gpt-4o-mini'), client });
 * console.log(result.stopReason, result.answer);
 */
export async function runAgent(options: RunAgentOptions): Promise<AgentResult> {
  const maxSteps = options.maxSteps ?? 20;
  const maxRefusals = options.maxConsecutiveRefusals ?? 3;
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new RangeError('maxSteps must be a positive integer');
  if (!Number.isInteger(maxRefusals) || maxRefusals < 1)
    throw new RangeError('maxConsecutiveRefusals must be a positive integer');
  const gate =
    options.gate ??
    (options.client ? wardenGate(options.client, { onEscalation: options.onEscalation ?? 'wait' }) : undefined);
  if (!gate) throw new TypeError('runAgent needs a client (or a gate)');
  const session = options.session ?? `agent-${randomUUID()}`;
  const tools: ToolDefinition[] = roleToolDefinitions(options.role, options.tools);
  if (tools.length === 0) throw new RangeError(`role "${options.role}" has no tools to offer`);
  const offered = new Set(tools.map((t) => t.name));

  const messages: ChatMessage[] = [
    { role: 'system', content: options.system ?? defaultSystemPrompt(options.role) },
    { role: 'user', content: options.goal },
  ];
  const calls: AgentCall[] = [];
  let usage = NO_USAGE;
  let unbilled = NO_USAGE;
  let refusalsInARow = 0;
  let answer = '';
  const done = (stopReason: AgentStopReason, steps: number, pending?: AgentResult['pending']): AgentResult => ({
    stopReason,
    answer,
    steps,
    session,
    calls,
    usage,
    messages,
    ...(pending ? { pending } : {}),
  });

  for (let step = 1; step <= maxSteps; step++) {
    options.signal?.throwIfAborted();
    const response = await options.model.chat({
      messages,
      tools,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    usage = addUsage(usage, response.usage);
    unbilled = addUsage(unbilled, response.usage);
    answer = response.text;
    messages.push({ role: 'assistant', content: response.text, toolCalls: response.toolCalls });
    options.onEvent?.({
      type: 'model',
      step,
      text: response.text,
      toolCalls: response.toolCalls,
      usage: response.usage,
    });
    if (response.toolCalls.length === 0) return done('answered', step);

    let pending: AgentResult['pending'];
    for (const [i, call] of response.toolCalls.entries()) {
      let outcome: GateOutcome;
      if (pending) {
        // a sibling call of one that waits for a human: not proposed, the model is told why
        outcome = {
          kind: 'refused',
          runId: null,
          status: 'cancelled',
          reasons: ['not proposed: an earlier call of this turn waits for approval'],
          ruleIds: [],
        };
      } else if (!offered.has(call.name)) {
        outcome = {
          kind: 'refused',
          runId: null,
          status: 'invalid',
          reasons: [`no tool "${call.name}" is offered to this agent (its tools: ${[...offered].join(', ')})`],
          ruleIds: [],
        };
      } else {
        outcome = await gate({
          tool: call.name,
          args: call.args,
          session,
          intent: (response.text || options.goal).slice(0, 4000),
          usage: {
            tokens: unbilled.totalTokens,
            ...(unbilled.costUsd === undefined ? {} : { cost_usd: unbilled.costUsd }),
          },
          // one key per call of the run: a retried proposal is the same run, never a second
          idempotencyKey: `${session}:${step}:${i}`,
        });
        // nothing was proposed for an invalid call: its tokens go on the next proposal
        if (outcome.kind !== 'refused' || outcome.status !== 'invalid' || outcome.runId !== null) unbilled = NO_USAGE;
      }
      calls.push({ step, tool: call.name, args: call.args, outcome });
      options.onEvent?.({ type: 'call', step, tool: call.name, args: call.args, outcome });
      messages.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: toolResultText(outcome) });
      if (outcome.kind === 'refused') refusalsInARow++;
      else refusalsInARow = 0;
      if (outcome.kind === 'pending_approval' && !pending)
        pending = { runId: outcome.runId, ...(outcome.approvalId ? { approvalId: outcome.approvalId } : {}) };
    }
    if (pending) return done('pending_approval', step, pending);
    if (refusalsInARow >= maxRefusals) return done('refusals', step);
  }
  return done('max_steps', maxSteps);
}

export { outcomeSummary };
