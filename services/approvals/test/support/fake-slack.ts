import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One Web API call the fake received. */
export interface SlackCall {
  method: string;
  token?: string;
  args: Record<string, unknown>;
  at: number;
}

/**
 * A local stand-in for the Slack Web API (`SLACK_API_URL=<url>/api/`): records every call, answers
 * `chat.postMessage` with a fresh `ts` and `chat.update` with ok, and can be told to fail. It also
 * serves `response_url`s (`<url>/respond/<name>`) and records what is posted to them.
 */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly responses: { name: string; body: Record<string, unknown> }[] = [];
  private server?: Server;
  private seq = 0;
  private failures: { method: string; error: string; times: number }[] = [];
  /** Milliseconds each Web API call waits before answering. */
  delayMs = 0;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The `SLACK_API_URL` to configure. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  responseUrl(name: string): string {
    return `${this.url}/respond/${name}`;
  }

  /** The next `times` calls of `method` answer `{ok: false, error}`. */
  failNext(method: string, error: string, times = 1): void {
    this.failures.push({ method, error, times });
  }

  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/respond/')) {
      this.responses.push({ name: url.pathname.slice('/respond/'.length), body: JSON.parse(raw || '{}') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const args = parseArgs(req.headers['content-type'] ?? '', raw);
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const token = auth?.[1] ?? (typeof args.token === 'string' ? args.token : undefined);
    this.calls.push({ method, token, args, at: Date.now() });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const failure = this.failures.find((f) => f.method === method && f.times > 0);
    if (failure) {
      failure.times--;
      return json(res, { ok: false, error: failure.error });
    }
    if (!token) return json(res, { ok: false, error: 'not_authed' });
    switch (method) {
      case 'chat.postMessage':
        return json(res, {
          ok: true,
          channel: args.channel,
          ts: `${Math.floor(Date.now() / 1000)}.${String(++this.seq).padStart(6, '0')}`,
        });
      case 'chat.update':
        return json(res, { ok: true, channel: args.channel, ts: args.ts });
      default:
        return json(res, { ok: false, error: 'unknown_method' });
    }
  }
}

function parseArgs(contentType: string, raw: string): Record<string, unknown> {
  if (contentType.includes('application/json')) return JSON.parse(raw || '{}') as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    // @slack/web-api sends arrays and objects (blocks) as JSON strings in form bodies
    out[k] = /^[[{]/.test(v) ? safeJson(v) : v;
  }
  return out;
}

function safeJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
