import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { providerToolName } from '../model/ai-sdk-chat-model';

/*
 * A real HTTP server that speaks OpenAI chat completions (`POST /v1/chat/completions`) and Anthropic
 * messages (`POST /v1/messages`) and answers from a script, so the agent loop, the adapters and the
 * examples run end to end with no network and no key. Every request body is kept for assertions
 * (what the model was shown: tool results, refusals).
 */

/** One scripted model answer. Tool names are Warden names (`fs.write_file`); the server offers them as the provider would. */
export interface ScriptedTurn {
  text?: string;
  toolCalls?: { name: string; args: Record<string, unknown>; id?: string }[];
  /** Defaults to 100 input and 20 output tokens. */
  usage?: { inputTokens: number; outputTokens: number };
}

/** A turn, or a function of the request that returns one (to react to what the model was shown). */
export type ScriptStep = ScriptedTurn | ((request: RecordedRequest) => ScriptedTurn);

/** One request the fake received. */
export interface RecordedRequest {
  api: 'openai' | 'anthropic';
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export interface FakeModelServerOptions {
  /** Answers in order (both APIs share the script). */
  script: ScriptStep[];
  /** After the script: repeat the last step forever (a runaway model) instead of answering 500. */
  repeatLast?: boolean;
  port?: number;
  host?: string;
}

/**
 * Starts the fake. `openaiBaseURL` fits `openai-compatible:<url>#fake` and `OPENAI_BASE_URL`;
 * `anthropicBaseURL` fits `ANTHROPIC_BASE_URL`.
 * @example
 * const fake = await startFakeModelServer({ script: [{ toolCalls: [{ name: 'fs.list_dir', args: {} }] }, { text: 'done' }] });
 * const model = createChatModel(`openai-compatible:${fake.openaiBaseURL}#fake`);
 * // … fake.requests[1].body.messages holds the tool result the model was shown
 * await fake.close();
 */
export async function startFakeModelServer(options: FakeModelServerOptions): Promise<FakeModelServer> {
  const fake = new FakeModelServer(options);
  await fake.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return fake;
}

export class FakeModelServer {
  readonly requests: RecordedRequest[] = [];
  private next = 0;
  private readonly server: Server;

  constructor(private readonly options: FakeModelServerOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => send(res, 500, { error: { message: String(err) } }));
    });
  }

  /** Base URL of the OpenAI-compatible API (`…/v1`). */
  get openaiBaseURL(): string {
    return `${this.origin}/v1`;
  }

  /** Base URL of the Anthropic API (`…/v1`). */
  get anthropicBaseURL(): string {
    return `${this.origin}/v1`;
  }

  get origin(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The requests of one API, in order. */
  requestsOf(api: RecordedRequest['api']): RecordedRequest[] {
    return this.requests.filter((r) => r.api === api);
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private turn(request: RecordedRequest): ScriptedTurn | undefined {
    const { script, repeatLast } = this.options;
    const i = this.next < script.length ? this.next++ : repeatLast ? script.length - 1 : -1;
    const step = i >= 0 ? script[i] : undefined;
    return typeof step === 'function' ? step(request) : step;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    const api =
      req.method === 'POST' && path.endsWith('/chat/completions')
        ? 'openai'
        : path.endsWith('/messages')
          ? 'anthropic'
          : undefined;
    if (!api || req.method !== 'POST') return send(res, 404, { error: { message: `no route ${req.method} ${path}` } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const recorded: RecordedRequest = { api, path, headers: req.headers, body };
    this.requests.push(recorded);
    if (body.stream) return send(res, 400, { error: { message: 'the fake model does not stream' } });
    const turn = this.turn(recorded);
    if (!turn) return send(res, 500, { error: { message: 'the fake model has no more scripted answers' } });
    const n = this.requests.length;
    return send(res, 200, api === 'openai' ? openaiAnswer(turn, n, body) : anthropicAnswer(turn, n, body));
  }
}

function usageOf(turn: ScriptedTurn): { inputTokens: number; outputTokens: number } {
  return turn.usage ?? { inputTokens: 100, outputTokens: 20 };
}

function openaiAnswer(turn: ScriptedTurn, n: number, body: Record<string, unknown>): unknown {
  const calls = turn.toolCalls ?? [];
  const u = usageOf(turn);
  return {
    id: `chatcmpl-fake-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: String(body.model ?? 'fake'),
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: turn.text ?? null,
          ...(calls.length
            ? {
                tool_calls: calls.map((c, i) => ({
                  id: c.id ?? `call_${n}_${i}`,
                  type: 'function',
                  function: { name: providerToolName(c.name), arguments: JSON.stringify(c.args) },
                })),
              }
            : {}),
        },
        finish_reason: calls.length ? 'tool_calls' : 'stop',
      },
    ],
    usage: {
      prompt_tokens: u.inputTokens,
      completion_tokens: u.outputTokens,
      total_tokens: u.inputTokens + u.outputTokens,
    },
  };
}

function anthropicAnswer(turn: ScriptedTurn, n: number, body: Record<string, unknown>): unknown {
  const calls = turn.toolCalls ?? [];
  const u = usageOf(turn);
  return {
    id: `msg_fake_${n}`,
    type: 'message',
    role: 'assistant',
    model: String(body.model ?? 'fake'),
    content: [
      ...(turn.text ? [{ type: 'text', text: turn.text }] : []),
      ...calls.map((c, i) => ({
        type: 'tool_use',
        id: c.id ?? `toolu_${n}_${i}`,
        name: providerToolName(c.name),
        input: c.args,
      })),
    ],
    stop_reason: calls.length ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: u.inputTokens, output_tokens: u.outputTokens },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
