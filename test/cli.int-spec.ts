import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '@warden/cli';
import { TERMINAL_STATUSES } from '@warden/contracts';
import { newId } from '@warden/kernel';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import { signDelivery } from '../services/ingest/src/webhooks/domain/signature';
import { System } from './support/system';

const ROOT = resolve(__dirname, '..');
const ADMIN = 'cli-admin-token-0123456789abcdef';
const TERMINAL: readonly string[] = TERMINAL_STATUSES;

interface Result {
  code: number;
  out: string;
  err: string;
}

/**
 * The CLI end to end: all five services in this process, driven through `main` with captured output,
 * exactly the commands an operator types.
 */
describe('warden CLI against the running services', () => {
  let t: TestEnv;
  let sys: System;
  let workspace: string;
  /** a root without var/admin.token, so only the env decides the token */
  const emptyRoot = mkdtempSync(join(tmpdir(), 'warden-cli-root-'));

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-cli-ws-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, cli\n');
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
    await sys.startAll();
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
  });

  /** Service URLs and bus settings; `token` becomes WARDEN_TOKEN unless null (no token at all). */
  function env(token: string | null = ADMIN): Record<string, string> {
    return {
      NATS_URL: t.env.NATS_URL ?? 'nats://127.0.0.1:4222',
      WARDEN_SUBJECT_PREFIX: t.prefix,
      INGEST_URL: sys.url('ingest'),
      POLICY_URL: sys.url('policy'),
      ORCHESTRATOR_URL: sys.url('orchestrator'),
      APPROVALS_URL: sys.url('approvals'),
      ...(token === null ? {} : { WARDEN_TOKEN: token }),
    };
  }

  async function cli(argv: string[], token: string | null = ADMIN): Promise<Result> {
    let out = '';
    let err = '';
    const io = {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: env(token),
      root: emptyRoot,
    };
    const code = await main(argv, io);
    return { code, out, err };
  }

  /** Runs a command that must succeed and returns its stdout. */
  async function ok(argv: string[], token: string | null = ADMIN): Promise<string> {
    const r = await cli(argv, token);
    if (r.code !== 0) throw new Error(`warden ${argv.join(' ')} exited ${r.code}: ${r.err}${r.out}`);
    return r.out;
  }

  function field(out: string, name: string): string {
    const m = new RegExp(`^${name}\\s+(\\S+)$`, 'm').exec(out);
    if (!m) throw new Error(`no "${name}" line in:\n${out}`);
    return m[1]!;
  }

  const task = (tool = 'fs.read_file', args: Record<string, unknown> = { path: 'hello.txt' }) => ({
    agent: { id: 'agent-cli', role: 'dev' },
    action: { tool, args },
  });

  /** POST /v1/tasks with an API key, as an integrator would. */
  async function postTask(key: string): Promise<number> {
    const r = await fetch(`${sys.url('ingest')}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(task()),
    });
    await r.text();
    return r.status;
  }

  async function runJson(runId: string): Promise<{ status: string; approval?: { id: string } } | undefined> {
    const r = await cli(['runs', 'get', runId, '--json']);
    return r.code === 0 ? (JSON.parse(r.out) as { status: string; approval?: { id: string } }) : undefined;
  }

  async function terminal(runId: string): Promise<string> {
    const run = await waitFor(
      async () => {
        const r = await runJson(runId);
        return r && TERMINAL.includes(r.status) ? r : undefined;
      },
      `run ${runId} terminal`,
      30_000,
      200,
    );
    return run.status;
  }

  /** Submits through the CLI (JetStream) and returns the printed run id. */
  async function submit(tool: string, ...args: string[]): Promise<string> {
    const out = await ok(['submit', tool, ...args, '--agent', 'agent-cli', '--role', 'dev']);
    const runId = out.trim();
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    return runId;
  }

  /** The pending approval of a run, as `warden approvals list --json` shows it. */
  async function approvalFor(runId: string): Promise<string> {
    return waitFor(
      async () => {
        const page = JSON.parse(await ok(['approvals', 'list', '--status', 'pending', '--json'])) as {
          items: { id: string; run_id: string }[];
        };
        return page.items.find((a) => a.run_id === runId)?.id;
      },
      `approval of ${runId}`,
      20_000,
      200,
    );
  }

  async function operator(name: string, maxTier: number): Promise<string> {
    const out = await ok(['operators', 'create', '--name', name, '--roles', 'approver', '--max-tier', String(maxTier)]);
    expect(out).toMatch(/^operator [0-9a-f-]{36}$/m);
    return field(out, 'token');
  }

  describe('keys', () => {
    it('create prints a key that works for POST /v1/tasks; list shows it without the secret', async () => {
      const created = await cli(['keys', 'create', '--name', 'ci-bot', '--owner', 'team-ci']);
      expect(created.code).toBe(0);
      const id = field(created.out, 'key_id');
      const key = field(created.out, 'key');
      expect(key).toMatch(/^wk_/);
      expect(created.out).toContain('shown only now');
      expect(await postTask(key)).toBe(202);

      const list = await cli(['keys', 'list']);
      expect(list.code).toBe(0);
      const row = list.out.split('\n').find((l) => l.startsWith(id));
      expect(row).toMatch(new RegExp(`^${id}\\s+ci-bot\\s+team-ci\\s+active\\s`));
      expect(list.out).toMatch(/^ID\s+NAME\s+OWNER\s+STATUS/);
      expect(list.out).not.toContain(key);
      const json = await cli(['keys', 'list', '--json']);
      expect(json.out).not.toContain(key);
      expect(JSON.parse(json.out)).toEqual(
        expect.arrayContaining([expect.objectContaining({ id, name: 'ci-bot', owner: 'team-ci', status: 'active' })]),
      );
    });

    it('create --agent / --roles --agent-pattern bind the key: another agent is 403; rotate keeps the binding', async () => {
      const bound = await cli(['keys', 'create', '--name', 'bound', '--owner', 'team-b', '--agent', 'agent-cli:dev']);
      expect(bound.code).toBe(0);
      expect(bound.out).toMatch(/^agent\s+agent-cli:dev$/m);
      expect(await postTask(field(bound.out, 'key'))).toBe(202);
      const other = await ok(['keys', 'create', '--name', 'other', '--owner', 'team-b', '--agent', 'agent-x:dev']);
      expect(await postTask(field(other, 'key'))).toBe(403);
      const harness = await ok([
        'keys',
        'create',
        '--name',
        'h',
        '--owner',
        'team-h',
        '--roles',
        'dev,research',
        '--agent-pattern',
        'agent-*',
      ]);
      expect(await postTask(field(harness, 'key'))).toBe(202);
      const rotated = await ok(['keys', 'rotate', field(bound.out, 'key_id')]);
      expect(rotated).toMatch(/^agent\s+agent-cli:dev$/m);
      expect(await postTask(field(rotated, 'key'))).toBe(202);
      const list = await ok(['keys', 'list']);
      expect(list.split('\n').find((l) => l.startsWith(field(rotated, 'key_id')))).toMatch(
        /\sactive\s+agent-cli:dev\s/,
      );
      expect(list.split('\n').find((l) => l.startsWith(field(harness, 'key_id')))).toMatch(
        /\sagent-\* as dev,research\s/,
      );
      const both = await cli(['keys', 'create', '--name', 'x', '--owner', 'y', '--agent', 'a:dev', '--roles', 'dev']);
      expect(both.code).toBe(2);
      const badAgent = await cli(['keys', 'create', '--name', 'x', '--owner', 'y', '--agent', 'no-role']);
      expect(badAgent.code).toBe(2);
      expect(badAgent.err).toContain('--agent must be <agent id>:<role>');
    });

    it('rotate: old and new both work, the old one is refused after the grace period', async () => {
      const created = await ok(['keys', 'create', '--name', 'rotating', '--owner', 'team-r']);
      const oldId = field(created, 'key_id');
      const oldKey = field(created, 'key');
      const rotated = await cli(['keys', 'rotate', oldId, '--grace', '2']);
      expect(rotated.code).toBe(0);
      const newKey = field(rotated.out, 'key');
      expect(newKey).not.toBe(oldKey);
      expect(rotated.out).toMatch(new RegExp(`old key ${oldId} keeps working until \\d{4}-\\d\\d-\\d\\dT`));
      expect(await postTask(newKey)).toBe(202);
      expect(await postTask(oldKey)).toBe(202);
      const list = await ok(['keys', 'list']);
      expect(list.split('\n').find((l) => l.startsWith(oldId))).toMatch(/\srotating\s/);
      await waitFor(async () => (await postTask(oldKey)) === 401, 'the old key to be refused', 8_000, 200);
      expect(await postTask(newKey)).toBe(202);
    });

    it('revoke: the key is refused within 5 s', async () => {
      const created = await ok(['keys', 'create', '--name', 'doomed', '--owner', 'team-d']);
      const id = field(created, 'key_id');
      const key = field(created, 'key');
      expect(await postTask(key)).toBe(202);
      const revoked = await cli(['keys', 'revoke', id, '--reason', 'leaked']);
      expect(revoked.code).toBe(0);
      expect(revoked.out).toMatch(new RegExp(`^revoked ${id} at \\d{4}-`));
      const since = Date.now();
      await waitFor(async () => (await postTask(key)) === 401, 'the revoked key to be refused', 5_000, 100);
      expect(Date.now() - since).toBeLessThan(5_000);
      expect((await ok(['keys', 'list'])).split('\n').find((l) => l.startsWith(id))).toMatch(/\srevoked\s/);
    });

    it('bad input exits 2 (usage) or 1 (refused by the API) with a readable message', async () => {
      const noOwner = await cli(['keys', 'create', '--name', 'x']);
      expect(noOwner.code).toBe(2);
      expect(noOwner.err).toContain('keys create needs --name and --owner');
      const badExpiry = await cli(['keys', 'create', '--name', 'x', '--owner', 'y', '--expires', 'tomorrow']);
      expect(badExpiry.code).toBe(1);
      expect(badExpiry.err).toMatch(/400 .*\n {2}expires_at: /);
      const unknown = await cli(['keys', 'revoke', newId()]);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(/^warden: 404 /);
      const badGrace = await cli(['keys', 'rotate', newId(), '--grace', 'soon']);
      expect(badGrace.code).toBe(2);
      expect(badGrace.err).toContain('--grace must be a whole number of seconds');
    });
  });

  describe('webhooks', () => {
    const delivery = async (source: string, secret: string) => {
      const body = JSON.stringify({ ...task(), run_id: newId() });
      const id = `msg_${newId()}`;
      const ts = Math.floor(Date.now() / 1000);
      const r = await fetch(`${sys.url('ingest')}/v1/webhooks/${source}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': signDelivery(secret, id, ts, body),
        },
        body,
      });
      await r.text();
      return r.status;
    };

    it('create, list, rotate (both secrets valid), delete (deliveries refused)', async () => {
      const created = await cli(['webhooks', 'create', 'github']);
      expect(created.code).toBe(0);
      const secret = field(created.out, 'secret');
      expect(secret).toMatch(/^whsec_/);
      expect(created.out).toContain(`deliver to ${sys.url('ingest')}/v1/webhooks/github`);
      expect(await delivery('github', secret)).toBe(202);

      const list = await ok(['webhooks', 'list']);
      expect(list).toMatch(/^SOURCE\s+CREATED\s+SECRETS/);
      expect(list).toMatch(/^github\s+\S+\s+1 current$/m);
      expect(list).not.toContain(secret);

      const rotated = await cli(['webhooks', 'rotate', 'github', '--grace', '600']);
      expect(rotated.code).toBe(0);
      const next = field(rotated.out, 'secret');
      expect(next).not.toBe(secret);
      expect(rotated.out).toMatch(/the previous secret stays valid until \d{4}-/);
      expect(await delivery('github', next)).toBe(202);
      expect(await delivery('github', secret)).toBe(202);
      expect(await ok(['webhooks', 'list'])).toMatch(
        /^github\s+.*1 until \d{4}-.*1 current|^github\s+.*1 current.*1 until/m,
      );

      const deleted = await cli(['webhooks', 'delete', 'github']);
      expect(deleted).toMatchObject({ code: 0, out: 'deleted github\n' });
      expect(await delivery('github', next)).toBe(401);
      expect(await ok(['webhooks', 'list'])).not.toMatch(/^github/m);
      const again = await cli(['webhooks', 'delete', 'github']);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/^warden: 404 /);
    });

    it('an invalid source name is refused with the field path', async () => {
      const r = await cli(['webhooks', 'create', 'Not A Name']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/400 .*\n {2}name: must be 1-63 lowercase/);
    });
  });

  describe('runs and approvals', () => {
    it('submit --wait runs an allowed read to success and prints the result', async () => {
      const r = await cli([
        'submit',
        'fs.read_file',
        'path=hello.txt',
        '--role',
        'research',
        '--wait',
        '--timeout',
        '30',
      ]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^[0-9a-f-]{36}\nstatus: succeeded\ndecision: allow \(tier 1/);
      expect(r.out).toContain('hello, cli');
      const runId = r.out.split('\n')[0]!;
      const listed = await ok(['runs', '--agent', 'cli', '--limit', '5']);
      expect(listed).toMatch(new RegExp(`^${runId}\\s+succeeded\\s+cli\\s+fs.read_file`, 'm'));
    });

    it('approve: a tier-3 escalation approved by two operators from the CLI succeeds', async () => {
      const alice = await operator('alice-cli', 3);
      const bob = await operator('bob-cli', 3);
      const runId = await submit('fs.write_file', 'path=prod/cli.txt', 'content=approved from the cli');
      const approvalId = await approvalFor(runId);

      const list = await ok(['approvals', 'list', '--status', 'pending']);
      expect(list).toMatch(
        new RegExp(`^${approvalId}\\s+pending\\s+t3\\s+0/2\\s+fs.write_file\\s+agent-cli\\s+expires in`, 'm'),
      );
      const shown = await ok(['approvals', 'get', approvalId]);
      expect(shown).toContain(`run ${runId}`);
      expect(shown).toContain('action fs.write_file');

      const first = await cli(['approve', approvalId, '--comment', 'looks right'], alice);
      expect(first).toMatchObject({ code: 0, out: `${approvalId} pending (1/2 votes)\n` });
      const twice = await cli(['approve', approvalId], alice);
      expect(twice.code).toBe(1);
      expect(twice.err).toMatch(/^warden: 409 /);
      const second = await cli(['approve', approvalId], bob);
      expect(second).toMatchObject({ code: 0, out: `${approvalId} granted (2/2 votes)\n` });

      expect(await terminal(runId)).toBe('succeeded');
      expect(readFileSync(join(workspace, 'prod/cli.txt'), 'utf8')).toBe('approved from the cli');
      const run = await ok(['runs', 'get', runId]);
      expect(run).toMatch(/^status:\s+succeeded$/m);
      expect(run).toMatch(/approval_granted/);
    });

    it('reject --reason ends the run rejected; reject without a reason is a usage error', async () => {
      const carol = await operator('carol-cli', 2);
      const runId = await submit('deploy.staging', 'service=api');
      const approvalId = await approvalFor(runId);
      const noReason = await cli(['reject', approvalId], carol);
      expect(noReason.code).toBe(2);
      expect(noReason.err).toContain('reject needs --reason');
      const r = await cli(['reject', approvalId, '--reason', 'not on a friday'], carol);
      expect(r).toMatchObject({ code: 0, out: `${approvalId} rejected\n` });
      expect(await terminal(runId)).toBe('rejected');
      const shown = await ok(['approvals', 'get', approvalId]);
      expect(shown).toMatch(/reject by carol-cli via cli at \S+: not on a friday/);
    });

    it('a viewer may read but not vote (exit 1, names the missing role)', async () => {
      const out = await ok(['operators', 'create', '--name', 'vic-cli', '--roles', 'viewer', '--max-tier', '1']);
      const viewer = field(out, 'token');
      const runId = await submit('deploy.staging', 'service=web');
      const approvalId = await approvalFor(runId);
      expect((await cli(['approvals', 'list'], viewer)).code).toBe(0);
      const r = await cli(['approve', approvalId], viewer);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/403 .*\nthe token lacks the role/);
    });
  });

  describe('policy and replay', () => {
    const defaultBundle = readFileSync(join(ROOT, 'deploy/policies/default.yaml'), 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-bundles-'));

    it('replay <run_id> reproduces a recorded decision exactly (exit 0)', async () => {
      const runId = await submit('fs.read_file', 'path=hello.txt');
      expect(await terminal(runId)).toBe('succeeded');
      // policy's decisions read model lingers up to 250 ms behind the run: replay once it has the run
      const r = await waitFor(async () => {
        const x = await cli(['replay', runId]);
        return x.code === 0 ? x : undefined;
      }, 'the decision recorded for replay');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(
        new RegExp(`^${runId} under sha256:[0-9a-f]{64}: reproduced exactly \\(allow \\[fs-read\\]\\)`),
      );
      const json = JSON.parse((await ok(['replay', runId, '--json'])) as string) as { identical: boolean };
      expect(json.identical).toBe(true);
      const all = await cli(['replay', '--since', '1h']);
      expect(all.code).toBe(0);
      expect(all.out).toMatch(/^(\d+) replayed, \1 identical, 0 different$/m);
      const unknown = await cli(['replay', newId()]);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(/^warden: 404 /);
    });

    it('whatif shows what a stricter candidate would change, without activating it', async () => {
      const runId = await submit('deploy.staging', 'service=whatif');
      await approvalFor(runId); // decided (escalate) and recorded
      const before = await ok(['policy', 'show']);
      const strict = join(dir, 'strict.yaml');
      writeFileSync(
        strict,
        defaultBundle
          .replace(/^version: .*$/m, "version: 'cli-strict'")
          .replace(
            '  - id: deploy-staging\n    tools: [deploy.staging]\n    outcome: escalate\n    tier: 2\n',
            '  - id: deploy-staging\n    tools: [deploy.staging]\n    outcome: deny\n',
          ),
      );
      const r = await cli(['policy', 'whatif', strict, '--since', '1h']);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(
        /^candidate cli-strict sha256:[0-9a-f]{64}\n\d+ decisions since \S+: \d+ unchanged, [1-9]\d* would change\n/,
      );
      expect(r.out).toMatch(/^\s+[1-9]\d* escalate(\(2\))?→deny$/m);
      expect(r.out).toMatch(/e\.g\. run [0-9a-f-]{36} deploy\.staging by agent-cli/);
      expect(r.out).toContain(`e.g. run `);
      expect(await ok(['policy', 'show'])).toBe(before);
    });

    it('push of a modified bundle: show reports its digest; an invalid bundle lists field errors', async () => {
      const file = join(dir, 'next.yaml');
      writeFileSync(file, defaultBundle.replace(/^version: .*$/m, "version: 'cli-next'"));
      const pushed = await cli(['policy', 'push', file]);
      expect(pushed.code).toBe(0);
      const m = /^active: cli-next (sha256:[0-9a-f]{64}) \(since \S+\)$/m.exec(pushed.out);
      expect(m).not.toBeNull();
      const digest = m![1]!;
      expect(await ok(['policy', 'show'])).toMatch(new RegExp(`^cli-next ${digest} \\(active since `));
      expect(await ok(['policy', 'show', '--bundles'])).toMatch(new RegExp(`^\\* ${digest}  cli-next`, 'm'));

      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, 'version: x\nrules: []\n');
      const refused = await cli(['policy', 'push', bad]);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/^warden: 400 [\s\S]*\n {2}rules: Too small/);
      // the field errors once, not a second time as the problem's detail
      expect(refused.err.split('rules: Too small').length).toBe(2);
      expect(await ok(['policy', 'show'])).toMatch(new RegExp(`^cli-next ${digest} `));
    });

    it('submit --wait prints the decision mode: an observe-mode escalation says it was not enforced', async () => {
      const file = join(dir, 'observe.yaml');
      writeFileSync(
        file,
        defaultBundle
          .replace(/^version: .*$/m, "version: 'cli-observe'")
          .replace(
            '    tier: 3\n    reason: writing under prod/ needs two approvers\n',
            '    tier: 3\n    mode: observe\n    reason: writing under prod/ needs two approvers\n',
          ),
      );
      expect((await cli(['policy', 'push', file])).code).toBe(0);
      try {
        const r = await cli([
          'submit',
          'fs.write_file',
          'path=prod/observed.txt',
          'content=x',
          '--wait',
          '--timeout',
          '30',
        ]);
        expect(r.err).not.toContain('warden:');
        expect(r.out).toMatch(
          /^[0-9a-f-]{36}\nstatus: succeeded\ndecision: escalate \(tier 3, observe, rules fs-write-prod\)\n {2}observe mode: recorded as escalate, not enforced; the action went ahead as allowed\n/,
        );
        expect(r.code).toBe(0);
        expect(readFileSync(join(workspace, 'prod/observed.txt'), 'utf8')).toBe('x');
      } finally {
        expect((await cli(['policy', 'push', join(ROOT, 'deploy/policies/default.yaml')])).code).toBe(0);
      }
    });

    it('an approve that the policy re-check voids says "voided" and why; the run does not go ahead', async () => {
      const dave = await operator('dave-cli', 2);
      const runId = await submit('deploy.staging', 'service=voided');
      const approvalId = await approvalFor(runId);
      const strict = join(dir, 'deny-staging.yaml');
      writeFileSync(
        strict,
        defaultBundle
          .replace(/^version: .*$/m, "version: 'cli-deny-staging'")
          .replace(
            '  - id: deploy-staging\n    tools: [deploy.staging]\n    outcome: escalate\n    tier: 2\n',
            '  - id: deploy-staging\n    tools: [deploy.staging]\n    outcome: deny\n',
          ),
      );
      expect((await cli(['policy', 'push', strict])).code).toBe(0);
      try {
        const r = await cli(['approve', approvalId], dave);
        expect(r.code).toBe(0);
        expect(r.out).toMatch(
          new RegExp(
            `^${approvalId} voided: policy now denies this action: .+ \\(1/1 approve votes; the run will not go ahead\\)\n$`,
          ),
        );
        expect(r.out).not.toMatch(/rejected \(/);
        expect(await terminal(runId)).not.toBe('succeeded');
      } finally {
        expect((await cli(['policy', 'push', join(ROOT, 'deploy/policies/default.yaml')])).code).toBe(0);
      }
    });
  });

  describe('what a user trips over', () => {
    it('self-approval: the 403 says the requesting agent cannot approve its own run, not that a role is missing', async () => {
      const self = await operator('agent-self', 3);
      const out = await ok(['submit', 'deploy.staging', 'service=self', '--agent', 'agent-self', '--role', 'dev']);
      const approvalId = await approvalFor(out.trim());
      const r = await cli(['approve', approvalId], self);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^warden: 403 .*: the requesting agent cannot vote on its own action\n$/);
      expect(r.err).not.toContain('lacks the role');
    });

    it('submit --wait --json prints a JSON object with the run id and last status on a timeout, exit 1', async () => {
      const r = await cli([
        'submit',
        'deploy.staging',
        'service=slow',
        '--agent',
        'agent-cli',
        '--wait',
        '--json',
        '--timeout',
        '2',
      ]);
      expect(r.code).toBe(1);
      const [runId, ...rest] = r.out.split('\n');
      expect(runId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(rest.join('\n'))).toEqual({
        run_id: runId,
        status: expect.stringMatching(/^(received|awaiting_approval)$/),
        timed_out: true,
        error: expect.stringContaining(`run ${runId} not terminal after 2 s`),
      });
      expect(r.err).toContain('not terminal after 2 s');
    });
  });

  describe('failure paths', () => {
    it.each([
      [['keys', 'list']],
      [['webhooks', 'list']],
      [['approvals', 'list']],
      [['policy', 'show', '--bundles']],
      [['runs']],
    ])('warden %j without a token exits 1 and says to set WARDEN_TOKEN', async (argv) => {
      const r = await cli(argv, null);
      expect(r.code).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^warden: 401 /);
      expect(r.err).toContain('no token: set WARDEN_TOKEN');
    });

    it('a refused token says so', async () => {
      const r = await cli(['keys', 'list'], 'not-a-real-token');
      expect(r.code).toBe(1);
      expect(r.err).toContain('the token was refused');
    });

    it.each([
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['keys', 'frobnicate'], 'unknown keys command "frobnicate"'],
      [['webhooks', 'frobnicate'], 'unknown webhooks command "frobnicate"'],
      [['policy', 'frobnicate'], 'policy needs one of'],
      [['approvals', 'frobnicate'], 'unknown approvals command "frobnicate"'],
      [['keys', 'list', '--bogus'], 'unknown option --bogus'],
    ])('warden %j exits 2 with a usage message', async (argv, message) => {
      const r = await cli(argv);
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
      expect(r.err).toContain('(see: warden help)');
    });
  });
});
