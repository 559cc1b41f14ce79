import { parseArgs } from 'node:util';
import { defaultServiceUrl } from '@warden/contracts';
import { WardenClient } from '@warden/client';
import { outcomeSummary } from '../gate/outcome';
import { runAgent, type AgentResult } from '../loop/run-agent';
import { createChatModel, ModelSpecError, MODEL_SYNTAX } from '../model/model-spec';
import type { ChatModel } from '../model/chat-model';

export const AGENT_USAGE = `usage: warden agent run --goal "…" [--role dev] [--agent ID] [--model provider:model] [--max-steps N]
                         [--max-refusals N] [--on-escalation wait|return] [--session ID]
                         [--tools fs.read_file,fs.write_file] [--price-in USD --price-out USD] [--json]

  --goal            what the agent should do (required)
  --role            the agent's role; must be the API key's role (default: dev)
  --agent           the agent id the API key is bound to (default: $WARDEN_AGENT_ID)
  --model           ${MODEL_SYNTAX}
                    (default: $WARDEN_AGENT_MODEL, else openai:gpt-4o-mini)
  --max-steps       model calls at most (default 20)
  --max-refusals    stop after this many refused calls in a row (default 3)
  --on-escalation   wait: a call that needs a human waits for the approvers (default);
                    return: stop and print the pending approval
  --session         the Warden session id (default: a new one per run)
  --tools           offer only these tools of the role
  --price-in/out    USD per million input/output tokens, to put cost_usd on each proposal
  --json            print the result as JSON

  Warden: WARDEN_API_KEY (a key bound to the agent), WARDEN_URL (ingest, default http://127.0.0.1:7101),
  WARDEN_ORCHESTRATOR_URL (run streams, default http://127.0.0.1:7103).
  Model keys: OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENAI_COMPATIBLE_API_KEY (see docs/agents.md).

  Exit status: 0 the model answered; 3 stopped by the step limit or repeated refusals;
  4 waiting for an approval (--on-escalation return); 2 bad usage; 1 any other error.`;

/** Where the command writes, and what it reads (tests give their own). */
export interface AgentCommandIo {
  env?: NodeJS.ProcessEnv;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Builds the model (tests may inject one); default {@link createChatModel}. */
  model?: (spec: string) => ChatModel;
}

class UsageError extends Error {}

const EXIT: Record<AgentResult['stopReason'], number> = { answered: 0, max_steps: 3, refusals: 3, pending_approval: 4 };

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer (got "${v}")`);
  return n;
}

function price(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number of USD (got "${v}")`);
  return n;
}

/**
 * `warden agent run …`: runs the reference agent against Warden and prints what happened. `argv` is
 * what follows `warden agent` (`['run', '--goal', '…']`). Resolves to the process exit status.
 * @example process.exitCode = await runAgentCommand(['run', '--goal', 'write hello.md', '--role', 'dev']);
 */
export async function runAgentCommand(argv: string[], io: AgentCommandIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  // eslint-disable-next-line no-console
  const out = io.stdout ?? ((l: string) => console.log(l));
  // eslint-disable-next-line no-console
  const err = io.stderr ?? ((l: string) => console.error(l));
  try {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
      out(AGENT_USAGE);
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'run') throw new UsageError(`unknown command "agent ${sub}"`);
    const { values } = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
        goal: { type: 'string' },
        role: { type: 'string' },
        agent: { type: 'string' },
        model: { type: 'string' },
        'max-steps': { type: 'string' },
        'max-refusals': { type: 'string' },
        'on-escalation': { type: 'string' },
        session: { type: 'string' },
        tools: { type: 'string' },
        'price-in': { type: 'string' },
        'price-out': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      out(AGENT_USAGE);
      return 0;
    }
    if (!values.goal?.trim()) throw new UsageError('--goal is required');
    const onEscalation = values['on-escalation'] ?? 'wait';
    if (onEscalation !== 'wait' && onEscalation !== 'return')
      throw new UsageError(`--on-escalation must be wait or return (got "${onEscalation}")`);
    const maxSteps = positiveInt('max-steps', values['max-steps'], 20);
    const maxRefusals = positiveInt('max-refusals', values['max-refusals'], 3);
    const priceIn = price('price-in', values['price-in']);
    const priceOut = price('price-out', values['price-out']);
    if ((priceIn === undefined) !== (priceOut === undefined))
      throw new UsageError('give both --price-in and --price-out');
    const apiKey = env.WARDEN_API_KEY;
    if (!apiKey) throw new UsageError('set WARDEN_API_KEY to an API key bound to the agent (npx warden keys create …)');
    const spec = values.model ?? env.WARDEN_AGENT_MODEL ?? 'openai:gpt-4o-mini';
    const model =
      io.model?.(spec) ??
      createChatModel(spec, {
        env,
        ...(priceIn !== undefined && priceOut !== undefined
          ? { prices: { inputPerMTok: priceIn, outputPerMTok: priceOut } }
          : {}),
      });
    const role = values.role ?? 'dev';
    const agentId = values.agent ?? env.WARDEN_AGENT_ID;
    if (!agentId) throw new UsageError('name the agent the API key is bound to: --agent <id> or WARDEN_AGENT_ID');
    const client = new WardenClient({
      baseUrl: env.WARDEN_URL ?? defaultServiceUrl('ingest'),
      orchestratorUrl: env.WARDEN_ORCHESTRATOR_URL ?? defaultServiceUrl('orchestrator'),
      apiKey,
      agent: { id: agentId, role },
    });
    const result = await runAgent({
      goal: values.goal,
      role,
      model,
      client,
      maxSteps,
      maxConsecutiveRefusals: maxRefusals,
      onEscalation,
      ...(values.session ? { session: values.session } : {}),
      ...(values.tools
        ? {
            tools: values.tools
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          }
        : {}),
      onEvent: values.json
        ? undefined
        : (e) => {
            if (e.type === 'model') {
              if (e.text) out(`[${e.step}] model: ${e.text}`);
            } else out(`[${e.step}] ${e.tool} ${JSON.stringify(e.args).slice(0, 200)} → ${outcomeSummary(e.outcome)}`);
          },
    });
    if (values.json) {
      const { messages: _m, ...summary } = result;
      out(JSON.stringify(summary, null, 2));
    } else {
      out(stopLine(result));
    }
    return EXIT[result.stopReason];
  } catch (e) {
    if (
      e instanceof UsageError ||
      e instanceof ModelSpecError ||
      (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      err(`warden agent: ${(e as Error).message}`);
      err(AGENT_USAGE);
      return 2;
    }
    err(`warden agent: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}

function stopLine(r: AgentResult): string {
  const tally = `${r.steps} step(s), ${r.calls.length} call(s), ${r.usage.totalTokens} tokens${r.usage.costUsd === undefined ? '' : `, $${r.usage.costUsd.toFixed(6)}`}, session ${r.session}`;
  switch (r.stopReason) {
    case 'answered':
      return `done: ${r.answer}\n(${tally})`;
    case 'max_steps':
      return `stopped: the step limit was reached (${tally})`;
    case 'refusals':
      return `stopped: Warden refused the last calls in a row (${tally})`;
    case 'pending_approval':
      return `waiting: pending approval ${r.pending?.approvalId ?? '(not yet named)'} for run ${r.pending?.runId} (${tally})`;
  }
}
