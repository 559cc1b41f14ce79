import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WardenClient } from './client';
import { WardenApiError, WardenNetworkError, WardenValidationError } from './errors';

/** A local HTTP server whose answers the test scripts, one handler per request in order. */
async function server(handlers: ((req: IncomingMessage, res: ServerResponse, body: string) => void)[]): Promise<{
  url: string;
  seen: { method?: string; url?: string; body: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}> {
  const seen: { method?: string; url?: string; body: string; headers: IncomingMessage['headers'] }[] = [];
  const s: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body, headers: req.headers });
      const h = handlers[seen.length - 1] ?? handlers[handlers.length - 1]!;
      h(req, res, body);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (_: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, {
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
const problem = (
  status: number,
  code: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) =>
  json(
    status,
    { type: `urn:warden:error:${code}`, title: code, status, detail: code.toLowerCase(), ...extra },
    headers,
  );

const RUN = '33333333-3333-4333-8333-333333333333';
const agent = { id: 'a1', role: 'dev' };
const clientFor = (url: string) =>
  new WardenClient({ baseUrl: url, apiKey: 'wk_test', agent, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } });

describe('WardenClient over HTTP', () => {
  it('retries a 503 and a 429 with the same idempotency key, then returns the run', async () => {
    const s = await server([
      problem(503, 'INGEST.UNAVAILABLE'),
      problem(429, 'INGEST.RATE_LIMITED', {}, { 'retry-after': '0' }),
      json(202, { run_id: RUN, status: 'received', duplicate: false }),
    ]);
    try {
      const run = await clientFor(s.url).propose({ tool: 'git.status', session: 's1', intent: 'look' });
      expect(run.id).toBe(RUN);
      const bodies = s.seen.map((x) => JSON.parse(x.body) as { idempotency_key: string });
      expect(bodies).toHaveLength(3);
      expect(new Set(bodies.map((b) => b.idempotency_key)).size).toBe(1);
      expect(bodies[0]).toMatchObject({
        agent,
        session_id: 's1',
        intent: 'look',
        action: { tool: 'git.status', args: {} },
      });
      expect(s.seen[0]!.headers.authorization).toBe('Bearer wk_test');
    } finally {
      await s.close();
    }
  });

  it('does not retry a 400; the error is typed and names each field', async () => {
    const s = await server([problem(400, 'VALIDATION.FAILED', { errors: [{ path: 'action.tool', message: 'bad' }] })]);
    try {
      const err = await clientFor(s.url)
        .propose({ tool: 'Nope' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WardenValidationError);
      expect(err).toMatchObject({ status: 400, code: 'VALIDATION.FAILED', errors: [{ path: 'action.tool' }] });
      expect(s.seen).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('gives up after the attempts with the last problem, or a network error when nothing answered', async () => {
    const s = await server([problem(503, 'INGEST.UNAVAILABLE')]);
    try {
      const err = await clientFor(s.url)
        .propose({ tool: 'git.status' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WardenApiError);
      expect(err).toMatchObject({ status: 503, code: 'INGEST.UNAVAILABLE' });
      expect(s.seen).toHaveLength(3);
    } finally {
      await s.close();
    }
    const down = await clientFor('http://127.0.0.1:1')
      .propose({ tool: 'git.status' })
      .catch((e: unknown) => e);
    expect(down).toBeInstanceOf(WardenNetworkError);
    expect(down).toMatchObject({ code: 'CLIENT.NETWORK' });
  });

  it('follows a run stream across a dropped connection with Last-Event-ID: every event once, in order', async () => {
    const ev = (seq: number, type: string) =>
      `id: ${seq}\nevent: event\ndata: ${JSON.stringify({ id: `e${seq}`, type, run_id: RUN })}\n\n`;
    const end = `event: end\ndata: ${JSON.stringify({ run_id: RUN, status: 'succeeded', result: { output: 1 } })}\n\n`;
    const s = await server([
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(ev(1, 'task_received'));
        res.write(ev(2, 'decision_made'), () => setTimeout(() => res.socket?.destroy(), 20));
      },
      (req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const after = Number(req.headers['last-event-id']);
        for (const [seq, type] of [
          [1, 'task_received'],
          [2, 'decision_made'],
          [3, 'run_queued'],
        ] as const)
          if (seq > after) res.write(ev(seq, type));
        res.end(end);
      },
    ]);
    try {
      const run = clientFor(s.url).run(RUN);
      const types: string[] = [];
      for await (const e of run.events()) types.push(e.type);
      expect(types).toEqual(['task_received', 'decision_made', 'run_queued']);
      expect(s.seen[1]!.headers['last-event-id']).toBe('2');
      expect(s.seen[0]!.url).toBe(`/v1/runs/${RUN}/stream`);
    } finally {
      await s.close();
    }
  });

  it('outcome() answers a 404 stream at once with the typed error (another agent’s run)', async () => {
    const s = await server([problem(404, 'RUN.NOT_FOUND')]);
    try {
      const err = await clientFor(s.url)
        .run(RUN)
        .outcome()
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 404, code: 'RUN.NOT_FOUND' });
    } finally {
      await s.close();
    }
  });
});
