import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import * as args from './args';
import * as cli from './warden';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function io(env: Record<string, string> = {}) {
  return { stdout: new Capture(), stderr: new Capture(), env, root: '/nonexistent-warden-root' };
}

interface Seen {
  method?: string;
  url?: string;
  auth?: string;
}

/** A real HTTP server standing in for the orchestrator: answers from `routes` and records requests. */
async function orchestrator(handler: (req: http.IncomingMessage, seen: Seen[]) => [number, unknown]) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    const [status, body] = handler(req, seen);
    res.writeHead(status, {
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
    });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise((r) => server.close(r)) };
}

const RUN_ID = '3f1c2b1a-0000-4000-8000-000000000001';

describe('argument parsing', () => {
  it('reads key=value as strings and key:=json as JSON', () => {
    expect(
      args.parseAssignments(['path=notes/a.md', 'content=a=b', 'n:=3', 'force:=true', 'opts:={"x":[1]}', 'empty=']),
    ).toEqual({ path: 'notes/a.md', content: 'a=b', n: 3, force: true, opts: { x: [1] }, empty: '' });
  });

  it('rejects malformed assignments with the offending argument named', () => {
    expect(() => args.parseAssignments(['path'])).toThrow(/"path" is not key=value/);
    expect(() => args.parseAssignments(['=x'])).toThrow(/not key=value/);
    expect(() => args.parseAssignments([':=1'])).toThrow(/empty key/);
    expect(() => args.parseAssignments(['n:={bad'])).toThrow(/"n:=" is not valid JSON/);
    expect(() => args.parseAssignments(['a=1', 'a=2'])).toThrow(/"a" given twice/);
  });

  it('parses flags strictly', () => {
    const spec = { wait: 'boolean', agent: 'string' } as const;
    expect(args.parseFlags(['fs.read', '--agent', 'a1', 'x=1', '--wait'], spec)).toEqual({
      flags: { agent: 'a1', wait: true },
      positionals: ['fs.read', 'x=1'],
    });
    expect(args.parseFlags(['--agent=a2', '--', '--wait'], spec)).toEqual({
      flags: { agent: 'a2' },
      positionals: ['--wait'],
    });
    expect(() => args.parseFlags(['--bogus'], spec)).toThrow(/unknown option --bogus/);
    expect(() => args.parseFlags(['--agent'], spec)).toThrow(/--agent needs a value/);
    expect(() => args.parseFlags(['--wait=yes'], spec)).toThrow(/takes no value/);
    expect(() => args.positiveInt('0', 'limit')).toThrow(/--limit must be a positive integer/);
  });
});

describe('buildSubmission', () => {
  it('derives the same run id for the same agent and idempotency key, and uses the key as Nats-Msg-Id', () => {
    const flags = { agent: 'agent-7', 'idempotency-key': 'k-1', session: 's1' };
    const a = cli.buildSubmission(['fs.write_file', 'path=a.md'], flags, {});
    const b = cli.buildSubmission(['fs.write_file', 'path=a.md'], flags, {});
    expect(a.submission.run_id).toBe(b.submission.run_id);
    expect(a.msgId).toBe('k-1');
    expect(a.submission).toEqual({
      run_id: a.submission.run_id,
      idempotency_key: 'k-1',
      agent: { id: 'agent-7', role: 'dev' },
      session_id: 's1',
      action: { tool: 'fs.write_file', args: { path: 'a.md' } },
    });
    const other = cli.buildSubmission(['fs.write_file'], { ...flags, agent: 'agent-8' }, {});
    expect(other.submission.run_id).not.toBe(a.submission.run_id);
  });

  it('uses a fresh run id (also the msg id) without a key, and --run-id when given', () => {
    const a = cli.buildSubmission(['git.status'], {}, {});
    const b = cli.buildSubmission(['git.status'], {}, {});
    expect(a.submission.run_id).not.toBe(b.submission.run_id);
    expect(a.msgId).toBe(a.submission.run_id);
    expect(cli.buildSubmission(['git.status'], { 'run-id': RUN_ID }, {}).submission.run_id).toBe(RUN_ID);
  });

  it('takes agent and role defaults from the environment', () => {
    const { submission } = cli.buildSubmission(
      ['http.get'],
      {},
      { WARDEN_AGENT_ID: 'bot', WARDEN_AGENT_ROLE: 'research' },
    );
    expect(submission.agent).toEqual({ id: 'bot', role: 'research' });
  });
});

describe('main', () => {
  it('prints usage and exits 2 without a command, 0 for help', async () => {
    const a = io();
    expect(await cli.main([], a)).toBe(2);
    expect(a.stderr.text).toContain('Usage: warden');
    const b = io();
    expect(await cli.main(['help'], b)).toBe(0);
    expect(b.stdout.text).toContain('submit <tool>');
  });

  it('help lists every command of every group, each section headed by its service URL variable', async () => {
    const b = io();
    expect(await cli.main(['help'], b)).toBe(0);
    const text = b.stdout.text;
    const sections = text.trimEnd().split('\n\n');
    const headers = sections.slice(1, -2).map((s) => s.split('\n')[0]);
    expect(headers).toEqual([
      expect.stringMatching(/^Runs \(.*ORCHESTRATOR_URL, default http:\/\/127\.0\.0\.1:7103\):$/),
      'Policy (POLICY_URL, default http://127.0.0.1:7102):',
      'Approvals (APPROVALS_URL, default http://127.0.0.1:7104):',
      expect.stringMatching(/^API keys and webhook sources \(INGEST_URL, default http:\/\/127\.0\.0\.1:7101[;)]/),
      expect.stringMatching(/^Upstream MCP servers \(INGEST_URL, default http:\/\/127\.0\.0\.1:7101[;)]/),
      'Signing keys (offline; prints .env lines, stores nothing):',
      expect.stringMatching(/^Dead letters \(ORCHESTRATOR_URL, default http:\/\/127\.0\.0\.1:7103[;)]/),
      expect.stringMatching(/^Audit chain \(ORCHESTRATOR_URL, default http:\/\/127\.0\.0\.1:7103[;)]/),
    ]);
    // every command a group module dispatches is documented as the first word of a usage line
    const starts = new Set(text.split('\n').map((l) => /^ {2}([a-z]+)\b/.exec(l)?.[1]));
    for (const group of ['policy', 'approvals', 'keys', 'mcp', 'dlq', 'audit']) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(`./${group}`) as { commands: Record<string, unknown> };
      for (const name of Object.keys(mod.commands))
        expect({ name, documented: starts.has(name) }).toEqual({
          name,
          documented: true,
        });
    }
    for (const core of ['submit', 'runs', 'help']) expect(starts.has(core)).toBe(true);
    expect(sections.at(-2)).toMatch(/^Environment: .*INGEST_URL, POLICY_URL,\nORCHESTRATOR_URL, APPROVALS_URL/);
    expect(sections.at(-1)).toMatch(/^Exit codes: 0 ok, 1 error .*2 usage,\n3 /);
    // one blank line between sections, never two
    expect(text).not.toMatch(/\n\n\n/);
  });

  it('exits 2 on an unknown command or option', async () => {
    const a = io();
    expect(await cli.main(['frobnicate'], a)).toBe(2);
    expect(a.stderr.text).toContain('unknown command "frobnicate"');
    const b = io();
    expect(await cli.main(['submit', 'fs.read_file', '--nope'], b)).toBe(2);
    expect(b.stderr.text).toContain('unknown option --nope');
  });

  it('refuses an invalid submission locally, naming the field, before touching NATS', async () => {
    const a = io({ NATS_URL: 'nats://127.0.0.1:1' });
    expect(await cli.main(['submit', 'NotATool', 'x=1'], a)).toBe(1);
    expect(a.stderr.text).toMatch(/invalid submission:\n {2}action\.tool: must be namespace\.verb/);
    expect(a.stdout.text).toBe('');
  });

  it('fails clearly when NATS is unreachable', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const a = io({ NATS_URL: `nats://127.0.0.1:${port}` });
    expect(await cli.main(['submit', 'fs.read_file', 'path=a'], a)).toBe(1);
    expect(a.stderr.text).toContain(`cannot connect to NATS at nats://127.0.0.1:${port}`);
    expect(a.stdout.text).toBe('');
  });
});

describe('runs', () => {
  it('lists runs with the filters mapped to query parameters and the token sent', async () => {
    const o = await orchestrator(() => [
      200,
      {
        items: [
          {
            run_id: RUN_ID,
            status: 'succeeded',
            agent: { id: 'agent-7', role: 'dev' },
            action: { tool: 'fs.read_file', args: {} },
            created_at: '2026-01-01T00:00:00.000Z',
          },
        ],
        next_cursor: 'c2',
      },
    ]);
    try {
      const a = io({ ORCHESTRATOR_URL: `${o.url}/`, WARDEN_TOKEN: 'tok-123' });
      expect(await cli.main(['runs', '--status', 'succeeded', '--agent', 'agent-7', '--limit', '5'], a)).toBe(0);
      expect(o.seen[0]).toEqual({
        method: 'GET',
        url: '/v1/runs?status=succeeded&agent_id=agent-7&limit=5',
        auth: 'Bearer tok-123',
      });
      expect(a.stdout.text).toMatch(/^RUN_ID\s+STATUS\s+AGENT\s+TOOL\s+CREATED_AT\n/);
      expect(a.stdout.text).toContain(`${RUN_ID}  succeeded  agent-7  fs.read_file  2026-01-01T00:00:00.000Z`);
      expect(a.stdout.text).toContain('more: warden runs --cursor c2');
    } finally {
      await o.close();
    }
  });

  it('explains a 401 and which token variable to set', async () => {
    const o = await orchestrator(() => [401, { type: 'about:blank', title: 'Unauthorized', status: 401 }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url });
      expect(await cli.main(['runs'], a)).toBe(1);
      expect(o.seen[0]!.auth).toBeUndefined();
      expect(a.stderr.text).toContain('401 Unauthorized');
      expect(a.stderr.text).toContain('set WARDEN_TOKEN');
    } finally {
      await o.close();
    }
  });

  it('shows field errors from a problem+json 400', async () => {
    const o = await orchestrator(() => [
      400,
      { title: 'Bad Request', status: 400, detail: 'invalid query', errors: [{ path: 'limit', message: 'too big' }] },
    ]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      expect(await cli.main(['runs', '--limit', '100000'], a)).toBe(1);
      expect(a.stderr.text).toContain('400 Bad Request: invalid query\n  limit: too big');
    } finally {
      await o.close();
    }
  });

  it('gets one run for people, or as JSON, and fails on 404', async () => {
    const run = {
      run_id: RUN_ID,
      status: 'denied',
      agent: { id: 'agent-7', role: 'dev' },
      action: { tool: 'secrets.read', args: { name: 'x' } },
      decision: {
        outcome: 'deny',
        tier: 1,
        mode: 'enforce',
        rule_ids: ['deny-secrets'],
        reasons: ['secrets are off limits'],
      },
      trace_id: 'a'.repeat(32),
      events: [{ type: 'task_received', producer: 'ingest', occurred_at: '2026-01-01T00:00:00.000Z' }],
    };
    const o = await orchestrator((req) =>
      req.url === `/v1/runs/${RUN_ID}` ? [200, run] : [404, { title: 'Not Found' }],
    );
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      expect(await cli.main(['runs', 'get', RUN_ID], a)).toBe(0);
      expect(a.stdout.text).toContain('status:   denied');
      expect(a.stdout.text).toContain('decision: deny (tier 1, enforce) rules: deny-secrets');
      expect(a.stdout.text).toContain('secrets are off limits');
      expect(a.stdout.text).toMatch(/task_received\s+ingest/);
      const b = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      expect(await cli.main(['runs', 'get', RUN_ID, '--json'], b)).toBe(0);
      expect(JSON.parse(b.stdout.text)).toEqual(run);
      const c = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      expect(await cli.main(['runs', 'get', 'nope'], c)).toBe(1);
      expect(c.stderr.text).toContain('run nope not found');
    } finally {
      await o.close();
    }
  });

  it('fails clearly when the orchestrator is down', async () => {
    const a = io({ ORCHESTRATOR_URL: 'http://127.0.0.1:1', WARDEN_TOKEN: 't' });
    expect(await cli.main(['runs'], a)).toBe(1);
    expect(a.stderr.text).toContain('cannot reach the orchestrator at http://127.0.0.1:1/v1/runs');
  });
});

describe('waitForRun', () => {
  it('polls through 404 and intermediate statuses until terminal, then prints status and result (exit 0)', async () => {
    const statuses = [undefined, 'received', 'queued', 'running', 'succeeded'];
    let i = 0;
    const o = await orchestrator(() => {
      const status = statuses[Math.min(i++, statuses.length - 1)];
      if (!status) return [404, { title: 'Not Found' }];
      return [
        200,
        { run_id: RUN_ID, status, result: status === 'succeeded' ? { output: 'hi', output_hash: 'sha256:x' } : null },
      ];
    });
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      expect(await cli.waitForRun(RUN_ID, { timeoutS: 20 }, a)).toBe(0);
      expect(a.stdout.text).toContain('status: succeeded');
      expect(a.stdout.text).toContain('"output": "hi"');
      expect(a.stderr.text).toBe('… received\n… queued\n… running\n… succeeded\n');
    } finally {
      await o.close();
    }
  });

  it('exits 3 when the run ends other than succeeded', async () => {
    const o = await orchestrator(() => [
      200,
      { run_id: RUN_ID, status: 'denied', decision: { outcome: 'deny', tier: 1, reasons: ['no'] } },
    ]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      expect(await cli.waitForRun(RUN_ID, { timeoutS: 5 }, a)).toBe(3);
      expect(a.stdout.text).toContain('status: denied\ndecision: deny (tier 1)\n  no\n');
    } finally {
      await o.close();
    }
  });

  it('reports a rejection from the bus instead of waiting forever', async () => {
    const o = await orchestrator(() => [404, { title: 'Not Found' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      const rejected = Promise.resolve({ data: { errors: [{ path: 'action.tool', message: 'unknown' }] } });
      expect(await cli.waitForRun(RUN_ID, { timeoutS: 5, rejected }, a)).toBe(3);
      expect(a.stdout.text).toBe('status: rejected\n  action.tool: unknown\n');
    } finally {
      await o.close();
    }
  });

  it('keeps its polling pace when the rejection watch ends without a rejection', async () => {
    const o = await orchestrator(() => [200, { run_id: RUN_ID, status: 'queued' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      await expect(cli.waitForRun(RUN_ID, { timeoutS: 1, rejected: Promise.resolve(undefined) }, a)).rejects.toThrow(
        /not terminal/,
      );
      expect(o.seen.length).toBeLessThanOrEqual(3);
    } finally {
      await o.close();
    }
  });

  it('gives up after the timeout naming the last status', async () => {
    const o = await orchestrator(() => [200, { run_id: RUN_ID, status: 'awaiting_approval' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      await expect(cli.waitForRun(RUN_ID, { timeoutS: 1 }, a)).rejects.toThrow(
        /not terminal after 1 s \(last status: awaiting_approval\)/,
      );
    } finally {
      await o.close();
    }
  });
});
