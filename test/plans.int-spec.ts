import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEnvelope } from '@warden/bus';
import { newId, newTraceId } from '@warden/kernel';
import { createTestEnv, forgeAs, readAll, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { PLAN_APPROVE_ALL_ACTION } from '../services/approvals/src/slack/domain/plan-blocks';
import { signSlackRequest } from '../services/approvals/src/slack/http/slack-signature';
import { FakeSlack } from '../services/approvals/test/support/fake-slack';
import { System } from './support/system';

const ADMIN = 'plans-admin-token-0123456789abcdef';
const AGENT = { id: 'agent-plan', role: 'dev' };
const TERMINAL = ['succeeded', 'failed', 'denied', 'rejected', 'expired', 'cancelled'];
const SLACK_SECRET = 'plans-slack-signing-secret';

interface PlanItem {
  index: number;
  run_id: string;
  status: string;
  action_hash: string;
  action: { tool: string; args: Record<string, unknown> };
  approval?: { id: string; status: string; tier: number; required_votes: number; votes: { operator: string }[] };
}
interface Plan {
  id: string;
  status: string;
  count: number;
  items: PlanItem[];
}

/**
 * Plan approvals on the real services (NATS, Postgres, Redis): an agent proposes a plan through
 * ingest's `POST /v1/plans`; each item is an ordinary run; the items that escalate are one approval in
 * the approvals service; a plan vote becomes one signed vote (and grant) per item, which the
 * orchestrator checks exactly as any other. The deploy and PR endpoints are a local sink, so "ran"
 * means the sink received the call.
 */
describe('plan approvals', () => {
  let t: TestEnv;
  let sys: System;
  let workspace: string;
  let sink: Server;
  const received: { url: string; body: { ref?: string; title?: string } }[] = [];
  let apiKey: string;
  let alice: string;
  let bob: string;
  let carol: string;
  let selfOp: string;
  let slack: FakeSlack;

  beforeAll(async () => {
    sink = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body: JSON.parse(body || '{}') as { ref?: string } });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: received.length }));
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const port = (sink.address() as AddressInfo).port;
    slack = new FakeSlack();
    await slack.start();
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-plans-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hello, plans\n');
    sys = new System(t, {
      WARDEN_WORKSPACE: workspace,
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      WORKER_DEPLOY_ENDPOINTS: `staging=http://127.0.0.1:${port}/deploy/staging`,
      WORKER_PR_ENDPOINT: `http://127.0.0.1:${port}/pulls`,
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_TOKEN: 'xoxb-plans',
      SLACK_SIGNING_SECRET: SLACK_SECRET,
      SLACK_APPROVALS_CHANNEL: 'C_PLANS',
      SLACK_ESCALATION_CHANNEL: 'C_PLANS_ESC',
    });
    await sys.startAll();
    const key = await http('ingest', 'POST', '/v1/keys', ADMIN, { name: 'plans', owner: 'plans-test', agent: AGENT });
    expect(key.status).toBe(201);
    apiKey = (key.body as { key: string }).key;
    alice = await operator('alice-plans', 3);
    bob = await operator('bob-plans', 3);
    carol = await operator('carol-plans', 2);
    // an operator whose name is the proposing agent's id: it may not decide its own plan
    selfOp = await operator(AGENT.id, 3);
    await operator('dana-plans', 3, 'U_DANA');
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
    await new Promise((r) => sink?.close(r));
    await slack?.stop();
  });

  async function http(
    service: 'ingest' | 'approvals' | 'orchestrator',
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const r = await fetch(`${sys.url(service)}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  }

  async function operator(name: string, maxTier: number, slackUserId?: string): Promise<string> {
    const r = await http('approvals', 'POST', '/v1/operators', ADMIN, {
      name,
      roles: ['approver'],
      max_tier: maxTier,
      ...(slackUserId ? { slack_user_id: slackUserId } : {}),
    });
    expect(r.status).toBe(201);
    return (r.body as { token: string }).token;
  }

  async function propose(items: unknown[], extra: Record<string, unknown> = {}) {
    const r = await http('ingest', 'POST', '/v1/plans', apiKey, {
      agent: AGENT,
      session_id: `sess-${newId()}`,
      intent: 'ship the release',
      items,
      ...extra,
    });
    expect(r.status).toBe(202);
    return r.body as { plan_id: string; runs: { index: number; run_id: string }[] };
  }

  /** The plan once every item is decided: escalated items pending, the others past their decision. */
  async function settledPlan(planId: string, escalating: number): Promise<Plan> {
    return waitFor(
      async () => {
        const r = await http('approvals', 'GET', `/v1/plans/${planId}`, ADMIN);
        if (r.status !== 200) return undefined;
        const p = r.body as Plan;
        const waiting = p.items.filter((i) => i.approval?.status === 'pending').length;
        const settled = p.items.filter((i) => !i.approval && TERMINAL.includes(i.status)).length;
        return p.items.length === p.count && waiting === escalating && waiting + settled === p.count ? p : undefined;
      },
      `plan ${planId} settled`,
      30_000,
      200,
    );
  }

  async function run(runId: string): Promise<{ status: string; events: { type: string }[] }> {
    const r = await http('orchestrator', 'GET', `/v1/runs/${runId}`, ADMIN);
    return r.body as { status: string; events: { type: string }[] };
  }

  async function terminal(runId: string): Promise<string> {
    return waitFor(
      async () => {
        const r = await http('orchestrator', 'GET', `/v1/runs/${runId}`, ADMIN);
        const s = (r.body as { status?: string } | undefined)?.status;
        return r.status === 200 && s && TERMINAL.includes(s) ? s : undefined;
      },
      `run ${runId} terminal`,
      30_000,
      200,
    );
  }

  const vote = (token: string, planId: string, body: Record<string, unknown>) =>
    http('approvals', 'POST', `/v1/plans/${planId}/votes`, token, body);

  const deploys = (ref: string) => received.filter((r) => r.url === '/deploy/staging' && r.body.ref === ref).length;

  it('shows three escalating items as one approval; a subset granted runs, the rest ends rejected, allowed and denied items need no vote', async () => {
    const ref = newId().slice(0, 8);
    const plan = await propose([
      { tool: 'deploy.staging', args: { ref: `${ref}-a` } },
      { tool: 'pr.open', args: { title: `release ${ref}`, head: 'release' } },
      { tool: 'deploy.staging', args: { ref: `${ref}-c` } },
      { tool: 'fs.read_file', args: { path: 'hello.txt' } },
      { tool: 'secrets.read', args: { name: 'db' } },
    ]);
    expect(plan.runs.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    const p = await settledPlan(plan.plan_id, 3);
    expect(p.status).toBe('pending');
    expect(p.items.map((i) => [i.index, i.status, i.approval?.tier ?? null])).toEqual([
      [0, 'awaiting_approval', 2],
      [1, 'awaiting_approval', 2],
      [2, 'awaiting_approval', 2],
      [3, 'succeeded', null],
      [4, 'denied', null],
    ]);
    // the plan is listed once among pending plans, its items bound to their exact actions
    const listed = await http('approvals', 'GET', '/v1/plans?status=pending', ADMIN);
    expect((listed.body as { items: Plan[] }).items.filter((x) => x.id === plan.plan_id)).toHaveLength(1);
    expect(p.items[0]!.action_hash).toMatch(/^sha256:[0-9a-f]{64}$/);

    const r = await vote(alice, plan.plan_id, { approve: [0, 2], comment: 'deploys yes, PR later' });
    expect(r.status).toBe(200);
    expect((r.body as { votes: { index: number; vote: string }[] }).votes.map((v) => [v.index, v.vote])).toEqual([
      [0, 'approve'],
      [2, 'approve'],
      [1, 'reject'],
    ]);
    expect(await terminal(plan.runs[0]!.run_id)).toBe('succeeded');
    expect(await terminal(plan.runs[2]!.run_id)).toBe('succeeded');
    expect(await terminal(plan.runs[1]!.run_id)).toBe('rejected');
    expect(deploys(`${ref}-a`)).toBe(1);
    expect(deploys(`${ref}-c`)).toBe(1);
    expect(received.some((x) => x.url === '/pulls' && x.body.title === `release ${ref}`)).toBe(false);
    // the plan is decided: a second plan vote has nothing to decide
    expect((await vote(bob, plan.plan_id, { approve: 'all' })).status).toBe(409);

    // a granted item runs once: replaying its signed vote and grant on the bus changes nothing
    const events = await readAll(t.bus, t.subjects.streams.events, t.subjects.event(plan.runs[0]!.run_id, '*'));
    const replays = events
      .map((e) => ({ subject: e.subject, env: e.json() as { type: string } }))
      .filter((e) => e.env.type === 'approval_granted' || e.env.type === 'approval_vote');
    expect(replays.map((e) => e.env.type).sort()).toEqual(['approval_granted', 'approval_vote']);
    for (const e of replays) await t.bus.js.publish(e.subject, JSON.stringify(e.env), { msgID: newId() });
    await new Promise((res) => setTimeout(res, 1500));
    expect(deploys(`${ref}-a`)).toBe(1);
    const after = await run(plan.runs[0]!.run_id);
    expect(after.status).toBe('succeeded');
    expect(after.events.filter((e) => e.type === 'run_started')).toHaveLength(1);
  });

  it('is decided from the CLI: plans list/get show every item, plans approve --items grants a subset (channel cli), plans reject rejects the rest', async () => {
    const { main } = await import('@warden/cli');
    const cli = async (argv: string[], tok: string) => {
      let stdout = '';
      let stderr = '';
      const io = {
        stdout: { write: (x: string) => (stdout += x) },
        stderr: { write: (x: string) => (stderr += x) },
        env: { APPROVALS_URL: sys.url('approvals'), WARDEN_TOKEN: tok },
        root: '/nonexistent',
      };
      return { code: await main(argv, io), stdout, stderr };
    };
    const ref = newId().slice(0, 8);
    const plan = await propose([
      { tool: 'deploy.staging', args: { ref: `${ref}-x` } },
      { tool: 'deploy.staging', args: { ref: `${ref}-y` } },
      { tool: 'fs.read_file', args: { path: 'hello.txt' } },
    ]);
    await settledPlan(plan.plan_id, 2);

    const listed = await cli(['plans', 'list', '--status', 'pending', '--limit', '100'], ADMIN);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${plan.plan_id}\\s+pending\\s+2 waiting / 3 items`));
    const shown = await cli(['plans', 'get', plan.plan_id], ADMIN);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`plan ${plan.plan_id}  pending  2 of 3 items waiting for approval`);
    expect(shown.stdout).toMatch(
      new RegExp(`#0  awaiting_approval  deploy.staging \\{"ref":"${ref}-x"\\}  approval \\S+ pending t2 0/1`),
    );
    expect(shown.stdout).toMatch(/#2 {2}succeeded {2}fs\.read_file/);

    // usage errors before any request; the requesting agent's own operator is refused, nothing cast
    expect((await cli(['plans', 'approve', plan.plan_id, '--items', 'one'], alice)).code).toBe(2);
    expect((await cli(['plans', 'reject', plan.plan_id], alice)).code).toBe(2);
    const own = await cli(['plans', 'approve', plan.plan_id], selfOp);
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/own/);

    const approved = await cli(['plans', 'approve', plan.plan_id, '--items', '1', '--rest', 'pending'], alice);
    expect({ code: approved.code, stderr: approved.stderr }).toEqual({ code: 0, stderr: '' });
    expect(approved.stdout).toMatch(/#1 {2}approve {2}approval \S+ {2}granted/);
    expect(await terminal(plan.runs[1]!.run_id)).toBe('succeeded');
    expect(deploys(`${ref}-y`)).toBe(1);
    const a1 = (await http('approvals', 'GET', `/v1/plans/${plan.plan_id}`, ADMIN)).body as Plan;
    const item1 = a1.items.find((i) => i.index === 1)!;
    const approval = (await http('approvals', 'GET', `/v1/approvals/${item1.approval!.id}`, ADMIN)).body as {
      votes: { channel: string }[];
    };
    expect(approval.votes.map((v) => v.channel)).toEqual(['cli']);

    const rejected = await cli(['plans', 'reject', plan.plan_id, '--reason', 'not today', '--json'], bob);
    expect(rejected.code).toBe(0);
    expect((JSON.parse(rejected.stdout) as { votes: { index: number; vote: string }[] }).votes).toEqual([
      expect.objectContaining({ index: 0, vote: 'reject', status: 'rejected' }),
    ]);
    expect(await terminal(plan.runs[0]!.run_id)).toBe('rejected');
    expect(deploys(`${ref}-x`)).toBe(0);
  });

  it('anything not in the plan is judged alone: another action claiming a granted slot waits for its own approval', async () => {
    const ref = newId().slice(0, 8);
    const plan = await propose([{ tool: 'deploy.staging', args: { ref: `${ref}-ok` } }]);
    await settledPlan(plan.plan_id, 1);
    expect((await vote(alice, plan.plan_id, { approve: 'all' })).status).toBe(200);
    expect(await terminal(plan.runs[0]!.run_id)).toBe('succeeded');
    // the same agent proposes other args under the same plan slot
    const other = await http('ingest', 'POST', '/v1/tasks', apiKey, {
      agent: AGENT,
      action: { tool: 'deploy.staging', args: { ref: `${ref}-other` } },
      plan: { id: plan.plan_id, index: 0, count: 1 },
    });
    expect(other.status).toBe(202);
    const otherRun = (other.body as { run_id: string }).run_id;
    await waitFor(
      async () => ((await run(otherRun)).status === 'awaiting_approval' ? true : undefined),
      'own approval',
    );
    await new Promise((res) => setTimeout(res, 500));
    // the plan still shows only its own item, and the other action has not run
    const p = (await http('approvals', 'GET', `/v1/plans/${plan.plan_id}`, ADMIN)).body as Plan;
    expect(p.items.map((i) => i.run_id)).toEqual([plan.runs[0]!.run_id]);
    expect(deploys(`${ref}-other`)).toBe(0);
    expect((await run(otherRun)).status).toBe('awaiting_approval');
  });

  it('quorum counts per item: a tier-3 item needs two distinct approvers, a tier-2 item one', async () => {
    const file = `prod/plan-${newId().slice(0, 8)}.txt`;
    const ref = newId().slice(0, 8);
    const plan = await propose([
      { tool: 'fs.write_file', args: { path: file, content: 'two approvers' } },
      { tool: 'deploy.staging', args: { ref } },
    ]);
    const p = await settledPlan(plan.plan_id, 2);
    expect(p.items.map((i) => [i.approval?.tier, i.approval?.required_votes])).toEqual([
      [3, 2],
      [2, 1],
    ]);
    expect((await vote(alice, plan.plan_id, { approve: 'all' })).status).toBe(200);
    expect(await terminal(plan.runs[1]!.run_id)).toBe('succeeded');
    expect((await run(plan.runs[0]!.run_id)).status).toBe('awaiting_approval');
    expect(existsSync(join(workspace, file))).toBe(false);
    // the same approver again is not a second vote
    expect((await vote(alice, plan.plan_id, { approve: [0] })).status).toBe(409);
    expect((await vote(bob, plan.plan_id, { approve: [0] })).status).toBe(200);
    expect(await terminal(plan.runs[0]!.run_id)).toBe('succeeded');
    expect(readFileSync(join(workspace, file), 'utf8')).toBe('two approvers');
  });

  it('the requesting agent cannot approve its own plan, and an operator cannot grant an item above its max_tier', async () => {
    const file = `prod/tiers-${newId().slice(0, 8)}.txt`;
    const ref = newId().slice(0, 8);
    const plan = await propose([
      { tool: 'fs.write_file', args: { path: file, content: 'x' } },
      { tool: 'deploy.staging', args: { ref } },
    ]);
    await settledPlan(plan.plan_id, 2);
    const self = await vote(selfOp, plan.plan_id, { approve: 'all' });
    expect(self.status).toBe(403);
    expect((self.body as { detail: string }).detail).toMatch(/own action/);
    const high = await vote(carol, plan.plan_id, { approve: [0] });
    expect(high.status).toBe(403);
    expect((high.body as { detail: string }).detail).toMatch(/max_tier 2 does not cover tier 3/);
    expect((await vote(carol, plan.plan_id, { approve: 'all' })).status).toBe(403);
    // nothing was cast by the refused votes
    let p = (await http('approvals', 'GET', `/v1/plans/${plan.plan_id}`, ADMIN)).body as Plan;
    expect(p.items.map((i) => i.approval?.votes.length)).toEqual([0, 0]);
    // carol grants what she may; the tier-3 item she may not decide stays pending for someone who may
    expect((await vote(carol, plan.plan_id, { approve: [1] })).status).toBe(200);
    expect(await terminal(plan.runs[1]!.run_id)).toBe('succeeded');
    p = (await http('approvals', 'GET', `/v1/plans/${plan.plan_id}`, ADMIN)).body as Plan;
    expect(p.items[0]!.approval?.status).toBe('pending');
    expect(deploys(ref)).toBe(1);
  });

  it('a forged plan vote or grant on the bus is refused: the item keeps waiting, and the genuine vote still decides it', async () => {
    const ref = newId().slice(0, 8);
    const plan = await propose([{ tool: 'deploy.staging', args: { ref } }]);
    const p = await settledPlan(plan.plan_id, 1);
    const item = p.items[0]!;
    const runId = item.run_id;
    const approvalId = item.approval!.id;
    const voteEnv = forgeAs(
      makeEnvelope({
        type: 'approval_vote',
        runId,
        producer: 'approvals',
        traceId: newTraceId(),
        correlationId: runId,
        data: { approval_id: approvalId, operator: 'mallory', operator_id: newId(), vote: 'approve', channel: 'rest' },
      }),
    );
    const grant = forgeAs(
      makeEnvelope({
        type: 'approval_granted',
        runId,
        producer: 'approvals',
        traceId: newTraceId(),
        correlationId: runId,
        data: {
          approval_id: approvalId,
          operators: ['mallory'],
          votes: [{ vote_id: voteEnv.id, operator_id: voteEnv.data.operator_id!, operator: 'mallory' }],
          action_hash: item.action_hash,
          policy_digest: `sha256:${'0'.repeat(64)}`,
          tier: 2,
        },
      }),
    );
    for (const e of [voteEnv, grant])
      await t.bus.js.publish(t.subjects.event(runId, e.type), JSON.stringify(e), { msgID: e.id });
    await new Promise((res) => setTimeout(res, 1500));
    expect((await run(runId)).status).toBe('awaiting_approval');
    expect(deploys(ref)).toBe(0);
    const now = (await http('approvals', 'GET', `/v1/plans/${plan.plan_id}`, ADMIN)).body as Plan;
    expect(now.items[0]!.approval).toMatchObject({ status: 'pending', votes: [] });
    expect((await vote(bob, plan.plan_id, { approve: 'all' })).status).toBe(200);
    expect(await terminal(runId)).toBe('succeeded');
    expect(deploys(ref)).toBe(1);
  });

  it('Slack shows a plan as one message; "Approve all" by a linked operator votes on every waiting item', async () => {
    const ref = newId().slice(0, 8);
    const plan = await propose([
      { tool: 'deploy.staging', args: { ref: `${ref}-1` } },
      { tool: 'deploy.staging', args: { ref: `${ref}-2` } },
      { tool: 'deploy.staging', args: { ref: `${ref}-3` } },
    ]);
    const p = await settledPlan(plan.plan_id, 3);
    const mentions = (s: string) => (c: { args: Record<string, unknown> }) =>
      JSON.stringify(c.args.blocks ?? '').includes(s);
    const post = await waitFor(
      () => slack.callsOf('chat.postMessage').find(mentions(plan.plan_id)),
      'the plan message',
      20_000,
    );
    expect(post.args.channel).toBe('C_PLANS');
    expect(post.args.text).toMatch(/^Plan approval needed: \d of 3 items for agent agent-plan$/);
    // every item is shown, bound to what it does, and none got a message of its own
    const blocks = JSON.stringify(post.args.blocks);
    expect(blocks).toContain(PLAN_APPROVE_ALL_ACTION);
    await waitFor(
      () =>
        slack
          .callsOf('chat.update')
          .filter(mentions(plan.plan_id))
          .some((c) => JSON.stringify(c.args.blocks).includes(`${ref}-3`))
          ? true
          : JSON.stringify(post.args.blocks).includes(`${ref}-3`) || undefined,
      'all three items on the plan message',
    );
    for (const item of p.items)
      expect(slack.callsOf('chat.postMessage').filter(mentions(item.approval!.id))).toHaveLength(0);
    expect(slack.callsOf('chat.postMessage').filter(mentions(plan.plan_id))).toHaveLength(1);

    // an item's approval waits long: the plan (not a lone item) goes to the escalation channel, once
    const escalated = makeEnvelope({
      type: 'approval_escalated',
      runId: p.items[0]!.run_id,
      producer: 'approvals',
      traceId: newTraceId(),
      correlationId: p.items[0]!.run_id,
      data: { approval_id: p.items[0]!.approval!.id, fraction: 0.5, notified: [] },
    });
    await testPublisher(t).publishEvent(escalated);
    await testPublisher(t).publishEvent({ ...escalated, id: newId() });
    const esc = await waitFor(
      () =>
        slack.callsOf('chat.postMessage').find((c) => c.args.channel === 'C_PLANS_ESC' && mentions(plan.plan_id)(c)),
      'the plan escalated',
    );
    expect(JSON.stringify(esc.args.blocks)).toContain('A plan has waited 50% of its time');
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.callsOf('chat.postMessage').filter((c) => c.args.channel === 'C_PLANS_ESC')).toHaveLength(1);

    const body = new URLSearchParams({
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: 'U_DANA' },
        actions: [{ action_id: PLAN_APPROVE_ALL_ACTION, value: plan.plan_id }],
        response_url: slack.responseUrl(`plan-${ref}`),
      }),
    }).toString();
    const ts = String(Math.floor(Date.now() / 1000));
    const click = await fetch(`${sys.url('approvals')}/slack/interactions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': signSlackRequest(SLACK_SECRET, ts, body),
      },
      body,
    });
    expect(click.status).toBe(200);
    for (const r of plan.runs) expect(await terminal(r.run_id)).toBe('succeeded');
    for (const n of [1, 2, 3]) expect(deploys(`${ref}-${n}`)).toBe(1);
    const reply = await waitFor(() => slack.responses.find((r) => r.name === `plan-${ref}`), 'the ephemeral reply');
    expect(reply.body.text).toBe('Your approval of the plan is recorded on 3 items.');
    // the plan message ends showing the plan decided, without buttons
    await waitFor(
      () =>
        slack
          .callsOf('chat.update')
          .filter(mentions(plan.plan_id))
          .some((c) => c.args.text === 'Plan decided: 3 items for agent agent-plan') || undefined,
      'the plan message updated',
    );
  });

  it('items published on the bus with the same plan ref form one plan; another agent naming that plan stays alone', async () => {
    const planId = newId();
    const sessionId = `sess-${newId()}`;
    const ref = newId().slice(0, 8);
    const item = (index: number, agent = AGENT) => ({
      run_id: newId(),
      agent,
      session_id: sessionId,
      action: { tool: 'deploy.staging', args: { ref: `${ref}-${index}` } },
      plan: { id: planId, index, count: 2 },
    });
    const items = [item(0), item(1)];
    for (const s of items) await t.bus.js.publish(t.subjects.ingestTasks, JSON.stringify(s), { msgID: newId() });
    const p = await settledPlan(planId, 2);
    expect(p.items.map((i) => i.run_id)).toEqual(items.map((s) => s.run_id));
    // another agent claiming a slot of this plan (it would need a free slot and the plan's agent anyway)
    const intruder = { ...item(1, { id: 'agent-other', role: 'dev' }), plan: { id: planId, index: 1, count: 2 } };
    await t.bus.js.publish(t.subjects.ingestTasks, JSON.stringify(intruder), { msgID: newId() });
    await waitFor(
      async () => ((await run(intruder.run_id))?.status === 'awaiting_approval' ? true : undefined),
      'the intruder judged alone',
    );
    expect((await vote(bob, planId, { approve: 'all' })).status).toBe(200);
    for (const s of items) expect(await terminal(s.run_id)).toBe('succeeded');
    expect((await run(intruder.run_id)).status).toBe('awaiting_approval');
    expect(deploys(`${ref}-1`)).toBe(1);
  });

  it('the dashboard serves its plan view beside the inbox', async () => {
    const html = await (await fetch(`${sys.url('approvals')}/`)).text();
    expect(html).toContain('<script src="/dashboard/plans.js" defer></script>');
    const js = await fetch(`${sys.url('approvals')}/dashboard/plans.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await js.text()).toContain('/v1/plans/${plan.id}/votes');
  });

  it('refuses an invalid plan as a whole, naming the item field, and stores nothing', async () => {
    const r = await http('ingest', 'POST', '/v1/plans', apiKey, {
      agent: AGENT,
      items: [{ tool: 'fs.read_file', args: { path: 'hello.txt' } }, { tool: 'Not A Tool' }],
    });
    expect(r.status).toBe(400);
    expect((r.body as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['items.1.tool']);
    const other = await http('ingest', 'POST', '/v1/plans', apiKey, {
      agent: { id: 'someone-else', role: 'dev' },
      items: [{ tool: 'fs.read_file', args: { path: 'hello.txt' } }],
    });
    expect(other.status).toBe(403);
    const empty = await http('ingest', 'POST', '/v1/plans', apiKey, { agent: AGENT, items: [] });
    expect(empty.status).toBe(400);
    expect((await vote(alice, newId(), { approve: 'all' })).status).toBe(404);
    expect((await vote(alice, newId(), { approve: 'some' })).status).toBe(400);
  });
});
