import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { parseAssignments } from './args';
import { formatVote } from './commands/approvals';
import { buildSubmission, formatFinal, waitForRun } from './commands/runs';
import * as cli from './index';
import { MODULES, exitQuietlyOnEpipe } from './index';
import { buildProgram, passThrough, runProgram, withDefaultSubcommand, type CommandModule } from './program';

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
      parseAssignments(['path=notes/a.md', 'content=a=b', 'n:=3', 'force:=true', 'opts:={"x":[1]}', 'empty=']),
    ).toEqual({ path: 'notes/a.md', content: 'a=b', n: 3, force: true, opts: { x: [1] }, empty: '' });
  });

  it('rejects malformed assignments with the offending argument named', () => {
    expect(() => parseAssignments(['path'])).toThrow(/"path" is not key=value/);
    expect(() => parseAssignments(['=x'])).toThrow(/not key=value/);
    expect(() => parseAssignments([':=1'])).toThrow(/empty key/);
    expect(() => parseAssignments(['n:={bad'])).toThrow(/"n:=" is not valid JSON/);
    expect(() => parseAssignments(['a=1', 'a=2'])).toThrow(/"a" given twice/);
  });
});

describe('buildSubmission', () => {
  it('derives the same run id for the same agent and idempotency key, and uses the key as Nats-Msg-Id', () => {
    const flags = { agent: 'agent-7', idempotencyKey: 'k-1', session: 's1' };
    const a = buildSubmission('fs.write_file', ['path=a.md'], flags, {});
    const b = buildSubmission('fs.write_file', ['path=a.md'], flags, {});
    expect(a.submission.run_id).toBe(b.submission.run_id);
    expect(a.msgId).toBe('k-1');
    expect(a.submission).toEqual({
      run_id: a.submission.run_id,
      idempotency_key: 'k-1',
      agent: { id: 'agent-7', role: 'dev' },
      session_id: 's1',
      action: { tool: 'fs.write_file', args: { path: 'a.md' } },
    });
    const other = buildSubmission('fs.write_file', [], { ...flags, agent: 'agent-8' }, {});
    expect(other.submission.run_id).not.toBe(a.submission.run_id);
  });

  it('uses a fresh run id (also the msg id) without a key, and --run-id when given', () => {
    const a = buildSubmission('git.status', [], {}, {});
    const b = buildSubmission('git.status', [], {}, {});
    expect(a.submission.run_id).not.toBe(b.submission.run_id);
    expect(a.msgId).toBe(a.submission.run_id);
    expect(buildSubmission('git.status', [], { runId: RUN_ID }, {}).submission.run_id).toBe(RUN_ID);
  });

  it('takes agent and role defaults from the environment', () => {
    const { submission } = buildSubmission(
      'http.get',
      [],
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
      'Plans (APPROVALS_URL, default http://127.0.0.1:7104; docs/plans.md):',
      expect.stringMatching(/^API keys and webhook sources \(INGEST_URL, default http:\/\/127\.0\.0\.1:7101[;)]/),
      expect.stringMatching(/^Upstream MCP servers \(INGEST_URL, default http:\/\/127\.0\.0\.1:7101[;)]/),
      'Signing keys (offline; prints .env lines, stores nothing):',
      expect.stringMatching(/^Dead letters \(ORCHESTRATOR_URL, default http:\/\/127\.0\.0\.1:7103[;)]/),
      expect.stringMatching(/^Audit chain \(ORCHESTRATOR_URL, default http:\/\/127\.0\.0\.1:7103[;)]/),
      'Agent (WARDEN_URL, WARDEN_API_KEY; docs/agents.md):',
    ]);
    // every command the program has is documented as the first word of a usage line
    const starts = new Set(text.split('\n').map((l) => /^ {2}([a-z-]+)\b/.exec(l)?.[1]));
    const program = buildProgram({ io: io(), code: 0 }, MODULES);
    expect(program.commands.length).toBe(19);
    for (const c of program.commands)
      expect({ name: c.name(), documented: starts.has(c.name()) }).toEqual({ name: c.name(), documented: true });
    expect(starts.has('help')).toBe(true);
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
      expect(await waitForRun(RUN_ID, { timeoutS: 20 }, a)).toBe(0);
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
      expect(await waitForRun(RUN_ID, { timeoutS: 5 }, a)).toBe(3);
      expect(a.stdout.text).toContain('status: denied\ndecision: deny (tier 1, enforce)\n  no\n');
    } finally {
      await o.close();
    }
  });

  it('reports a rejection from the bus instead of waiting forever', async () => {
    const o = await orchestrator(() => [404, { title: 'Not Found' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      const rejected = Promise.resolve({ data: { errors: [{ path: 'action.tool', message: 'unknown' }] } });
      expect(await waitForRun(RUN_ID, { timeoutS: 5, rejected }, a)).toBe(3);
      expect(a.stdout.text).toBe('status: rejected\n  action.tool: unknown\n');
    } finally {
      await o.close();
    }
  });

  it('keeps its polling pace when the rejection watch ends without a rejection', async () => {
    const o = await orchestrator(() => [200, { run_id: RUN_ID, status: 'queued' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      await expect(waitForRun(RUN_ID, { timeoutS: 1, rejected: Promise.resolve(undefined) }, a)).rejects.toThrow(
        /not terminal/,
      );
      expect(o.seen.length).toBeLessThanOrEqual(3);
    } finally {
      await o.close();
    }
  });

  it('with --json, a timeout still prints one JSON object (run id, last status) and fails', async () => {
    const o = await orchestrator(() => [200, { run_id: RUN_ID, status: 'awaiting_approval' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      await expect(waitForRun(RUN_ID, { timeoutS: 1, json: true }, a)).rejects.toThrow(/not terminal after 1 s/);
      expect(JSON.parse(a.stdout.text)).toEqual({
        run_id: RUN_ID,
        status: 'awaiting_approval',
        timed_out: true,
        error: `run ${RUN_ID} not terminal after 1 s (last status: awaiting_approval)`,
      });
    } finally {
      await o.close();
    }
  });

  it('gives up after the timeout naming the last status', async () => {
    const o = await orchestrator(() => [200, { run_id: RUN_ID, status: 'awaiting_approval' }]);
    try {
      const a = io({ ORCHESTRATOR_URL: o.url, WARDEN_TOKEN: 't' });
      await expect(waitForRun(RUN_ID, { timeoutS: 1 }, a)).rejects.toThrow(
        /not terminal after 1 s \(last status: awaiting_approval\)/,
      );
    } finally {
      await o.close();
    }
  });
});

describe('the parser wiring (no I/O)', () => {
  /** Every command path of the program, e.g. ['keys', 'create']. */
  function paths(): string[][] {
    const out: string[][] = [];
    const walk = (cmd: Command, prefix: string[]) => {
      for (const c of cmd.commands) {
        // `agent` hands --help to @warden/agent's own command (tested below)
        if (c.name() === 'help' || c.name() === 'agent') continue;
        out.push([...prefix, c.name()]);
        walk(c, [...prefix, c.name()]);
      }
    };
    walk(buildProgram({ io: io(), code: 0 }, MODULES), []);
    return out;
  }

  it('every command and subcommand has --help (exit 0, its usage on stdout)', async () => {
    const all = paths();
    expect(all).toEqual(
      expect.arrayContaining([['submit'], ['runs', 'get'], ['policy', 'whatif'], ['audit', 'verify']]),
    );
    for (const path of all) {
      const a = io();
      expect({ path, code: await cli.main([...path, '--help'], a) }).toEqual({ path, code: 0 });
      expect(a.stdout.text).toMatch(new RegExp(`^Usage: warden ${path.join(' ')}[ |]`));
      expect(a.stderr.text).toBe('');
    }
    const b = io();
    expect(await cli.main(['help', 'keys', 'create'], b)).toBe(0);
    expect(b.stdout.text).toContain('--agent-pattern <glob>');
  });

  it('a group without a subcommand runs its default one; --help still shows the group', () => {
    expect(withDefaultSubcommand(['keys'], MODULES)).toEqual(['keys', 'list']);
    expect(withDefaultSubcommand(['approvals', '--status', 'pending'], MODULES)).toEqual([
      'approvals',
      'list',
      '--status',
      'pending',
    ]);
    expect(withDefaultSubcommand(['mcp', '--json'], MODULES)).toEqual(['mcp', 'tools', '--json']);
    expect(withDefaultSubcommand(['keys', '--help'], MODULES)).toEqual(['keys', '--help']);
    expect(withDefaultSubcommand(['keys', 'revoke', 'k1'], MODULES)).toEqual(['keys', 'revoke', 'k1']);
    expect(withDefaultSubcommand(['policy'], MODULES)).toEqual(['policy']);
  });

  it.each([
    [['keys', 'list', '--bogus'], 'unknown option --bogus'],
    [['submit', 'fs.read_file', '--agent'], '--agent needs a value'],
    [['keys', 'frobnicate'], 'unknown keys command "frobnicate"'],
    [['policy'], 'policy needs one of: test, whatif, push, activate, show'],
    [['audit'], 'audit needs one of: key, export, verify'],
    [['operators'], 'operators create|list|revoke'],
    [['review', 'maybe'], 'review fine|flag <review_id>'],
    [['approve'], "missing required argument 'approval_id'"],
    [['runs', 'nope'], 'unexpected argument "nope" (did you mean: warden runs get <id>?)'],
    [['keys', 'create', '--name', 'x', '--owner', 'y', '--agent', 'a:dev', '--roles', 'dev'], 'use one or the other'],
    [['keys', 'rotate', 'k1', '--grace', 'soon'], '--grace must be a whole number of seconds'],
    [['approve', 'a1', '--standing', 'session'], '--standing and --ttl go together'],
    [['dlq', 'show', 'abc'], "seq must be a dead letter's sequence number"],
    [['audit', 'export', '--format', 'xml'], '--format must be jsonl or ocsf'],
    [['signing-keys', 'mallory'], 'unknown producer "mallory"'],
    [['submit'], 'submit needs a tool'],
  ])('warden %j is a usage error before any request: %s (exit 2)', async (argv, message) => {
    const a = io({
      INGEST_URL: 'http://127.0.0.1:1',
      APPROVALS_URL: 'http://127.0.0.1:1',
      ORCHESTRATOR_URL: 'http://127.0.0.1:1',
    });
    expect(await cli.main(argv, a)).toBe(2);
    expect(a.stderr.text).toMatch(/^warden: [^\n]+\n\(see: warden help\)\n$/);
    expect(a.stderr.text).toContain(message);
    expect(a.stdout.text).toBe('');
  });

  it('passThrough hands every argument, options and --help included, to the other module', async () => {
    const seen: string[][] = [];
    const agent: CommandModule = {
      usage: 'Agent:\n  agent …                                    the reference agent',
      register: (program, ctx) =>
        passThrough(program, ctx, 'agent', 'the reference agent', async (argv) => {
          seen.push(argv);
          return 7;
        }),
    };
    const others = MODULES.filter((m) => !m.usage.startsWith('Agent'));
    const a = io();
    expect(await runProgram(['agent', 'run', '--model', 'm', '--help', 'x=1'], a, [...others, agent])).toBe(7);
    expect(seen).toEqual([['run', '--model', 'm', '--help', 'x=1']]);
    expect(await runProgram(['agent'], a, [...others, agent])).toBe(7);
    expect(seen[1]).toEqual([]);
  });

  it('warden agent is the reference agent of @warden/agent: its own help, its own usage errors', async () => {
    const a = io();
    expect(await cli.main(['agent', '--help'], a)).toBe(0);
    expect(a.stdout.text).toMatch(/^usage: warden agent run --goal/);
    const b = io();
    expect(await cli.main(['agent', 'run', '--role', 'dev'], b)).toBe(2);
    expect(b.stderr.text).toMatch(/--goal/);
    expect(b.stdout.text).toBe('');
  });
});

describe('formatting (no I/O)', () => {
  const run = (decision: Record<string, unknown>, status = 'succeeded') =>
    formatFinal({ run_id: RUN_ID, status, decision: decision as never, result: null });

  it('submit --wait prints the decision with its mode; an observe-mode escalation says it was not enforced', () => {
    expect(
      run({ outcome: 'allow', tier: 1, mode: 'enforce', rule_ids: ['fs-read'], reasons: ['reads are fine'] }),
    ).toBe('status: succeeded\ndecision: allow (tier 1, enforce, rules fs-read)\n  reads are fine\n');
    expect(
      run({ outcome: 'escalate', tier: 2, mode: 'observe', rule_ids: ['deploy-staging'], reasons: ['staging'] }),
    ).toBe(
      'status: succeeded\n' +
        'decision: escalate (tier 2, observe, rules deploy-staging)\n' +
        '  observe mode: recorded as escalate, not enforced; the action went ahead as allowed\n' +
        '  staging\n',
    );
  });

  it('an approve the policy re-check voids says so and why, not "rejected (1/1 votes)"', () => {
    const base = {
      id: 'ap-1',
      run_id: RUN_ID,
      tier: 2,
      required_votes: 1,
      action: { tool: 'deploy.staging', args: {} },
      agent: { id: 'agent-7', role: 'dev' },
      reasons: [],
      expires_at: '2026-01-01T00:00:00.000Z',
      votes: [{ operator: 'alice', vote: 'approve' as const, channel: 'cli', at: '2026-01-01T00:00:00.000Z' }],
    };
    expect(
      formatVote({
        ...base,
        status: 'rejected',
        closed_reason: 'policy re-check refused the action: now denied by deny-deploys',
      }),
    ).toBe(
      'ap-1 voided: policy re-check refused the action: now denied by deny-deploys (1/1 approve votes; the run will not go ahead)',
    );
    expect(
      formatVote({ ...base, status: 'rejected', voided: true, closed_reason: 'the orchestrator voided the grant' }),
    ).toMatch(/^ap-1 voided: the orchestrator voided the grant /);
    expect(formatVote({ ...base, status: 'granted' })).toBe('ap-1 granted (1/1 votes)');
    expect(formatVote({ ...base, status: 'pending', required_votes: 2 })).toBe('ap-1 pending (1/2 votes)');
    const rejected = { ...base, status: 'rejected', votes: [{ ...base.votes[0]!, vote: 'reject' as const }] };
    expect(formatVote(rejected)).toBe('ap-1 rejected (1/1 votes)');
  });

  it('a closed pipe (warden … | head) exits quietly with 0; any other stream error still throws', () => {
    const stream = new EventEmitter() as unknown as NodeJS.WritableStream;
    const exits: number[] = [];
    exitQuietlyOnEpipe(stream, (code) => exits.push(code));
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(exits).toEqual([0]);
    expect(() => stream.emit('error', Object.assign(new Error('boom'), { code: 'EIO' }))).toThrow('boom');
  });
});
