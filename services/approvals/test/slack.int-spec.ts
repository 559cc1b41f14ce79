import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Decision, Envelope } from '@warden/contracts';
import { Publisher, makeEnvelope } from '@warden/bus';
import { deriveId, newId, newTraceId } from '@warden/kernel';
import { DATA_SOURCE, IdentityDirectory } from '@warden/runtime';
import { secretHash } from '@warden/identity';
import {
  createTestEnv,
  forgeAs,
  readAll,
  receivedEnvelope,
  waitFor,
  type TestEnv,
  testPublisher,
} from '@warden/testing';
import { System } from '../../../test/support/system';
import { APPROVE_ACTION, REJECT_ACTION } from '../src/slack/domain/approval-blocks';
import { SlackNotifier } from '../src/slack/slack-notifier';
import { signSlackRequest } from '../src/slack/http/slack-signature';
import { FakeSlack, type SlackCall } from './support/fake-slack';

const SECRET = 'slack-signing-secret-for-tests';
const ADMIN = 'slack-test-admin-token-0123456789abcdef';
const BOT_TOKEN = 'xoxb-test-token';

describe('Slack: approval messages and signed interactions (real NATS + Postgres, fake Slack Web API)', () => {
  let t: TestEnv;
  let sys: System;
  let slack: FakeSlack;
  let app: INestApplication;
  let publisher: Publisher;
  let url: string;

  beforeAll(async () => {
    t = await createTestEnv();
    slack = new FakeSlack();
    await slack.start();
    sys = new System(t, {
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_APPROVALS_CHANNEL: 'C_APPROVALS',
      SLACK_ESCALATION_CHANNEL: 'C_ESCALATIONS',
      SLACK_ESCALATION_MENTION: '<!here>',
      DASHBOARD_RUNS: 'false',
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    });
    // the real policy service answers the approvals engine's re-check of a grant
    await sys.start('policy');
    app = await sys.start('approvals');
    url = sys.url('approvals');
    publisher = testPublisher(t);
  });
  afterAll(async () => {
    await sys?.stopAll();
    await slack?.stop();
    await t?.cleanup();
  });

  // ---------- helpers ----------
  const decision = (traceId: string, tier: 1 | 2 | 3, ruleId: string, reason: string): Decision => ({
    outcome: 'escalate',
    tier,
    mode: 'enforce',
    rule_ids: [ruleId],
    reasons: [reason],
    constraints: {},
    policy_version: 'test',
    policy_digest: 'sha256:' + 'a'.repeat(64),
    input_hash: 'sha256:' + 'b'.repeat(64),
    trace_id: traceId,
    evaluated_at: new Date().toISOString(),
  });

  /** An `approval_requested` for git.push (tier 2, one approver) or a prod write (tier 3, two). */
  function requested(kind: 'push' | 'prod' = 'push', expiresInMs = 3600_000): Envelope<'approval_requested'> {
    const runId = newId();
    const traceId = newTraceId();
    const push = kind === 'push';
    return makeEnvelope({
      type: 'approval_requested',
      runId,
      producer: 'orchestrator',
      traceId,
      causationId: deriveId(runId, 'decision'),
      data: {
        approval_id: deriveId(runId, 'approval'),
        tier: push ? 2 : 3,
        required_votes: push ? 1 : 2,
        expires_at: new Date(Date.now() + expiresInMs).toISOString(),
        agent: { id: 'agent-7', role: 'dev' },
        session_id: 'sess-1',
        action: push
          ? { tool: 'git.push', args: { remote: 'origin', branch: 'main' } }
          : { tool: 'fs.write_file', args: { path: 'prod/app.yaml', content: 'replicas: 3' } },
        decision: push
          ? decision(traceId, 2, 'git-push', 'pushing needs an approver')
          : decision(traceId, 3, 'fs-write-prod', 'writing under prod/ needs two approvers'),
      },
    });
  }

  async function createOperator(name: string, slackUserId: string | undefined, maxTier: 1 | 2 | 3 = 3) {
    const id = newId();
    await publisher.publishEvent(
      makeEnvelope({
        type: 'operator_created',
        runId: null,
        correlationId: id,
        producer: 'test',
        traceId: newTraceId(),
        data: {
          operator_id: id,
          name,
          roles: ['approver'],
          max_tier: maxTier,
          ...(slackUserId ? { slack_user_id: slackUserId } : {}),
          token_hash: secretHash(`wop_${id}`),
          created_by: 'test',
        },
      }),
    );
    await waitFor(() => app.get(IdentityDirectory).operator(id), `operator ${name} in the directory`);
    return id;
  }

  const postsFor = (approvalId: string): SlackCall[] =>
    slack.callsOf('chat.postMessage').filter((c) => JSON.stringify(c.args.blocks ?? '').includes(approvalId));
  const updatesFor = (approvalId: string): SlackCall[] =>
    slack.callsOf('chat.update').filter((c) => JSON.stringify(c.args.blocks ?? '').includes(approvalId));

  async function signedPost(
    path: string,
    form: Record<string, string>,
    opts: { ts?: number; secret?: string; signature?: string | null; contentType?: string } = {},
  ) {
    const body = new URLSearchParams(form).toString();
    const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': opts.contentType ?? 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
    };
    if (opts.signature !== null)
      headers['x-slack-signature'] = opts.signature ?? signSlackRequest(opts.secret ?? SECRET, ts, body);
    return fetch(`${url}${path}`, { method: 'POST', headers, body });
  }

  function click(approvalId: string, userId: string, action: string, responseName: string) {
    return signedPost('/slack/interactions', {
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: userId },
        actions: [{ action_id: action, value: approvalId }],
        response_url: slack.responseUrl(responseName),
      }),
    });
  }

  function command(text: string, userId: string, responseName: string) {
    return signedPost('/slack/commands', {
      command: '/warden',
      text,
      user_id: userId,
      response_url: slack.responseUrl(responseName),
    });
  }

  const status = async (approvalId: string) =>
    (
      (await app
        .get<DataSource>(DATA_SOURCE)
        .query('SELECT status FROM approvals.inbox WHERE id = $1', [approvalId])) as { status: string }[]
    )[0]?.status;

  // ---------- tests ----------
  it('posts one Block Kit message per approval to SLACK_APPROVALS_CHANNEL, and never twice on redelivery', async () => {
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    const [post] = await waitFor(() => (postsFor(id).length ? postsFor(id) : undefined), 'the Slack post');
    expect(post!.token).toBe(BOT_TOKEN);
    expect(post!.args.channel).toBe('C_APPROVALS');
    expect(post!.args.text).toBe('Approval needed (tier 2): git.push for agent agent-7');
    const blocks = JSON.stringify(post!.args.blocks);
    for (const s of [
      'git.push',
      'agent-7',
      'sess-1',
      'pushing needs an approver',
      '+ branch: \\"main\\"',
      REJECT_ACTION,
    ])
      expect(blocks).toContain(s);
    const actions = (
      post!.args.blocks as { type: string; elements?: { action_id: string; confirm?: object }[] }[]
    ).find((b) => b.type === 'actions')!;
    expect(actions.elements!.filter((e) => e.confirm).map((e) => e.action_id)).toEqual([APPROVE_ACTION, REJECT_ACTION]);

    // the same approval again, as a redelivery would bring it (new envelope id, so the broker keeps it)
    await publisher.publishEvent({ ...env, id: newId() });
    expect(await app.get(SlackNotifier).onRequested(env)).toBe('skipped');
    // a later approval's post proves the consumer got past the copy
    const marker = requested('push');
    await publisher.publishEvent(marker);
    await waitFor(() => postsFor(marker.data.approval_id).length === 1, 'the marker post');
    expect(postsFor(id)).toHaveLength(1);
    const rows = await app
      .get<DataSource>(DATA_SOURCE)
      .query('SELECT kind, channel, ts FROM approvals.slack_messages WHERE approval_id = $1', [id]);
    expect(rows).toEqual([{ kind: 'request', channel: 'C_APPROVALS', ts: expect.stringMatching(/^\d+\.\d{6}$/) }]);
  });

  it('tells a lone run by its genuine task_received; a forged plan-less receipt after it only delays the post until plan membership has passed it', async () => {
    const receipt = (env: Envelope<'approval_requested'>) =>
      receivedEnvelope(env.run_id!, { traceId: env.trace_id, agent: { id: 'agent-7', role: 'dev' } });
    // a genuine plan-less receipt: a lone approval, posted without waiting on plan membership
    const alone = requested('push');
    await publisher.publishEvent(receipt(alone));
    await publisher.publishEvent(alone);
    await waitFor(() => postsFor(alone.data.approval_id).length === 1 || undefined, 'the lone post');
    // the last receipt on the subject is a forgery: not taken at its word; posted once plan membership
    // has read past it, which it stores within a second though nothing follows
    const forgedAfter = requested('push');
    await publisher.publishEvent(receipt(forgedAfter));
    const forged = forgeAs(receipt(forgedAfter));
    await t.bus.js.publish(t.subjects.event(forgedAfter.run_id!, 'task_received'), JSON.stringify(forged), {
      msgID: forged.id,
    });
    await publisher.publishEvent(forgedAfter);
    const [post] = await waitFor(
      () => (postsFor(forgedAfter.data.approval_id).length ? postsFor(forgedAfter.data.approval_id) : undefined),
      'the post after the forgery',
      15_000,
    );
    expect(post!.args.channel).toBe('C_APPROVALS');
    expect(postsFor(forgedAfter.data.approval_id)).toHaveLength(1);
  });

  it('refuses unsigned, mis-signed, stale and future requests with 401', async () => {
    const form = { command: '/warden', text: 'pending', user_id: 'U_NOBODY' };
    // well past the 300 s window either way: the clock moves on while the cases run (at 301 a second
    // ticking over between taking `now` and the server reading its clock made "future" acceptable)
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Parameters<typeof signedPost>[2]][] = [
      ['no signature', { signature: null }],
      ['wrong secret', { secret: 'not-the-secret' }],
      ['malformed', { signature: 'v0=zz' }],
      ['stale', { ts: now - 330 }],
      ['future', { ts: now + 330 }],
    ];
    for (const [what, opts] of cases) {
      const r = await signedPost('/slack/commands', form, opts);
      expect([what, r.status]).toEqual([what, 401]);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(((await r.json()) as { detail: string }).detail).toMatch(/Slack signature refused/);
    }
    // a body changed after signing
    const ts = String(now);
    const r = await fetch(`${url}/slack/commands`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': signSlackRequest(SECRET, ts, 'command=%2Fwarden&text=pending'),
      },
      body: 'command=%2Fwarden&text=approve+everything',
    });
    expect(r.status).toBe(401);
    // JSON is not what Slack sends: the raw body is gone to the JSON parser, so it cannot be verified
    const json = await signedPost('/slack/interactions', form, { contentType: 'application/json' });
    expect(json.status).toBe(400);
    // within the window either way is fine
    expect((await signedPost('/slack/commands', form, { ts: now - 270 })).status).toBe(200);
    expect((await signedPost('/slack/commands', form, { ts: now + 270 })).status).toBe(200);
  });

  it('tells a Slack user who is not linked to an operator, and records no vote', async () => {
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(() => postsFor(id).length === 1, 'the post');
    await waitFor(() => status(id), 'the inbox row');
    const started = Date.now();
    const r = await click(id, 'U_STRANGER', APPROVE_ACTION, 'stranger');
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    const reply = await waitFor(() => slack.responses.find((x) => x.name === 'stranger'), 'the ephemeral reply');
    expect(reply.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(reply.body.text).toMatch(/not linked to a Warden operator/);
    const cmd = await command(`approve ${id}`, 'U_STRANGER', 'stranger-cmd');
    expect(((await cmd.json()) as { text: string }).text).toMatch(/not linked to a Warden operator/);
    expect(await status(id)).toBe('pending');
    expect(updatesFor(id)).toHaveLength(0);
  });

  it('approves from a button click by a linked operator, then shows who decided and removes the buttons', async () => {
    await createOperator('alice', 'U_ALICE', 2);
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    const [post] = await waitFor(() => (postsFor(id).length ? postsFor(id) : undefined), 'the post');
    await waitFor(() => status(id), 'the inbox row');
    const r = await click(id, 'U_ALICE', APPROVE_ACTION, 'alice-click');
    expect(r.status).toBe(200);
    await waitFor(async () => (await status(id)) === 'granted', 'the grant', 20_000);
    const update = await waitFor(() => updatesFor(id)[0], 'the message update');
    expect(update.args.channel).toBe('C_APPROVALS');
    const blocks = update.args.blocks as { type: string }[];
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(blocks)).toContain('*Approved* by alice');
    expect(update.args.ts).toBe(
      (
        await app
          .get<DataSource>(DATA_SOURCE)
          .query(`SELECT ts FROM approvals.slack_messages WHERE approval_id = $1 AND kind = 'request'`, [id])
      )[0].ts,
    );
    // the update edits the very message that was posted
    expect(post!.args.channel).toBe(update.args.channel);
    // a second click: too late, said privately; the message is not touched again
    await click(id, 'U_ALICE', APPROVE_ACTION, 'alice-again');
    const again = await waitFor(() => slack.responses.find((x) => x.name === 'alice-again'), 'the second reply');
    expect(again.body.text).toMatch(/Too late|already/);
    expect(updatesFor(id)).toHaveLength(1);
  });

  it('shows a grant the orchestrator voided as rejected, with its reason, in Slack and the inbox', async () => {
    await createOperator('vera', 'U_VERA', 2);
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(() => (postsFor(id).length ? postsFor(id) : undefined), 'the post');
    await waitFor(() => status(id), 'the inbox row');
    expect((await click(id, 'U_VERA', APPROVE_ACTION, 'vera-click')).status).toBe(200);
    await waitFor(async () => (await status(id)) === 'granted', 'the grant', 20_000);
    await waitFor(() => updatesFor(id)[0], 'the granted update');
    // the orchestrator refuses the grant: the run ends denied by the binding rule
    await publisher.publishEvent(
      makeEnvelope({
        type: 'run_denied',
        runId: env.run_id,
        producer: 'orchestrator',
        traceId: env.trace_id,
        data: {
          reasons: ['approval voided: quorum not met: 0 distinct approver(s), 1 required'],
          rule_ids: ['orchestrator.approval-binding'],
        },
      }),
    );
    const voidedUpdate = await waitFor(() => updatesFor(id)[1], 'the voided update', 20_000);
    expect(JSON.stringify(voidedUpdate.args.blocks)).toContain('quorum not met');
    expect(JSON.stringify(voidedUpdate.args.blocks)).not.toContain('*Approved*');
    const view = await waitFor(async () => {
      const r = await fetch(`${url}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const b = (await r.json()) as { status: string; voided?: boolean; closed_reason?: string };
      return b.status === 'rejected' ? b : undefined;
    }, 'the inbox to show the void');
    expect(view).toMatchObject({ voided: true, closed_reason: expect.stringContaining('quorum not met') });
    const granted = (await (
      await fetch(`${url}/v1/approvals?status=granted`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json()) as { items: { id: string }[] };
    expect(granted.items.map((a) => a.id)).not.toContain(id);
    const rejected = (await (
      await fetch(`${url}/v1/approvals?status=rejected`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json()) as { items: { id: string }[] };
    expect(rejected.items.map((a) => a.id)).toContain(id);
  });

  it('refuses a vote above the operator max_tier, and shows progress of a two-approver approval', async () => {
    await createOperator('bob', 'U_BOB', 2);
    await createOperator('carol', 'U_CAROL', 3);
    const env = requested('prod');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(() => postsFor(id).length === 1, 'the post');
    await waitFor(() => status(id), 'the inbox row');
    await click(id, 'U_BOB', APPROVE_ACTION, 'bob');
    const bob = await waitFor(() => slack.responses.find((x) => x.name === 'bob'), 'bob’s reply');
    expect(bob.body.text).toMatch(/may not vote.*max_tier 2 does not cover tier 3/);
    await click(id, 'U_CAROL', APPROVE_ACTION, 'carol');
    const carol = await waitFor(() => slack.responses.find((x) => x.name === 'carol'), 'carol’s reply');
    expect(carol.body.text).toMatch(/recorded \(1 of 2 approvals\)/);
    const progress = await waitFor(() => updatesFor(id)[0], 'the progress update');
    expect(JSON.stringify(progress.args.blocks)).toContain('Votes (1 of 2 approvals)');
    expect((progress.args.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(true);
    expect(await status(id)).toBe('pending');
  });

  it('answers /warden pending and /warden reject <id prefix> <reason> within 3 s, then updates the message', async () => {
    await createOperator('dave', 'U_DAVE', 3);
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(() => postsFor(id).length === 1, 'the post');
    await waitFor(() => status(id), 'the inbox row');

    let started = Date.now();
    const pending = await command('pending', 'U_DAVE', 'dave-pending');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(pending.status).toBe(200);
    const list = (await pending.json()) as { response_type: string; text: string };
    expect(list.response_type).toBe('ephemeral');
    expect(list.text).toContain(`\`${id.slice(0, 8)}\``);

    const usage = (await (await command(`reject ${id}`, 'U_DAVE', 'dave-usage')).json()) as { text: string };
    expect(usage.text).toMatch(/needs a reason/);
    expect(await status(id)).toBe('pending');

    started = Date.now();
    const rejected = await command(`reject ${id.slice(0, 8)} not on a Friday`, 'U_DAVE', 'dave-reject');
    expect(Date.now() - started).toBeLessThan(3000);
    const body = (await rejected.json()) as { text: string };
    const final =
      body.text === 'Working on it…'
        ? (await waitFor(() => slack.responses.find((x) => x.name === 'dave-reject'), 'the late reply')).body.text
        : body.text;
    expect(final).toMatch(/now \*rejected\*/);
    await waitFor(async () => (await status(id)) === 'rejected', 'the rejection');
    const update = await waitFor(() => updatesFor(id)[0], 'the update');
    expect(JSON.stringify(update.args.blocks)).toContain('*Rejected* by dave');
    expect(JSON.stringify(update.args.blocks)).toContain('not on a Friday');

    const unknown = (await (await command('approve deadbeef', 'U_DAVE', 'dave-unknown')).json()) as { text: string };
    expect(unknown.text).toMatch(/No pending approval matches/);
  });

  it('posts an escalation to SLACK_ESCALATION_CHANNEL with the mention, once', async () => {
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(() => postsFor(id).length === 1, 'the request post');
    const escalated = makeEnvelope({
      type: 'approval_escalated',
      runId: env.run_id,
      producer: 'approvals',
      traceId: env.trace_id,
      causationId: env.id,
      data: { approval_id: id, fraction: 0.5, notified: ['escalation'] },
    });
    await publisher.publishEvent(escalated);
    await publisher.publishEvent({ ...escalated, id: newId() }); // a redelivered copy
    const posts = await waitFor(() => (postsFor(id).length === 2 ? postsFor(id) : undefined), 'the escalation post');
    const esc = posts.find((p) => p.args.channel === 'C_ESCALATIONS')!;
    expect(JSON.stringify(esc.args.blocks)).toContain('<!here>');
    expect(JSON.stringify(esc.args.blocks)).toContain('waited 50%');
    // then expiry closes both messages
    await publisher.publishEvent(
      makeEnvelope({
        type: 'approval_expired',
        runId: env.run_id,
        producer: 'approvals',
        traceId: env.trace_id,
        causationId: escalated.id,
        data: { approval_id: id, operators: [] },
      }),
    );
    const updates = await waitFor(() => (updatesFor(id).length === 2 ? updatesFor(id) : undefined), 'both updates');
    expect(updates.map((u) => u.args.channel).sort()).toEqual(['C_APPROVALS', 'C_ESCALATIONS']);
    expect(updates.every((u) => JSON.stringify(u.args.blocks).includes('*Expired*'))).toBe(true);
    expect(postsFor(id)).toHaveLength(2);
  });

  it('refuses a signed request whose response_url points outside Slack: 400, no vote, nothing sent there', async () => {
    const hits: string[] = [];
    const elsewhere: Server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.end('{}');
    });
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    const target = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/steal`;
    try {
      await createOperator('erin', 'U_ERIN', 3);
      const env = requested('push');
      const id = env.data.approval_id;
      await publisher.publishEvent(env);
      await waitFor(() => status(id), 'the inbox row');
      const payload = (responseUrl: string) => ({
        payload: JSON.stringify({
          type: 'block_actions',
          user: { id: 'U_ERIN' },
          actions: [{ action_id: APPROVE_ACTION, value: id }],
          response_url: responseUrl,
        }),
      });
      for (const bad of [
        target,
        'https://hooks.slack.com.evil.test/x',
        'http://hooks.slack.com/x',
        'file:///etc/passwd',
      ]) {
        const r = await signedPost('/slack/interactions', payload(bad));
        expect([bad, r.status]).toEqual([bad, 400]);
        expect(r.headers.get('content-type')).toContain('application/problem+json');
        expect(((await r.json()) as { detail: string }).detail).toMatch(
          /response_url must be an https:\/\/hooks\.slack\.com/,
        );
      }
      const cmd = await signedPost('/slack/commands', {
        command: '/warden',
        text: `approve ${id}`,
        user_id: 'U_ERIN',
        response_url: target,
      });
      expect(cmd.status).toBe(400);
      // the fake Slack (SLACK_API_URL's origin) is accepted, and proves the vote path still works afterwards
      await click(id, 'U_ERIN', APPROVE_ACTION, 'erin');
      await waitFor(() => slack.responses.find((x) => x.name === 'erin'), 'the reply on the Slack response_url');
      await waitFor(async () => (await status(id)) === 'granted', 'the grant', 20_000);
      expect(hits).toEqual([]);
    } finally {
      await new Promise((r) => elsewhere.close(r));
    }
  });

  it('answers 400 to a signed interaction whose payload is null or not an object, and keeps serving', async () => {
    for (const raw of ['null', '[]', '"x"', '42', 'not json']) {
      const r = await signedPost('/slack/interactions', { payload: raw });
      expect([raw, r.status]).toEqual([raw, 400]);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await signedPost('/slack/interactions', {})).status).toBe(400);
    // odd shapes inside an object are ignored (acked, nothing done), never a crash after the answer
    const odd = await signedPost('/slack/interactions', {
      payload: JSON.stringify({ type: 'block_actions', user: 5, actions: [{ action_id: APPROVE_ACTION, value: {} }] }),
    });
    expect(odd.status).toBe(200);
    const health = await fetch(`${url}/health/live`);
    expect(health.status).toBe(200);
  });

  it('refuses a second operator for a Slack user (409), and an ambiguous mapping votes as nobody', async () => {
    const create = (name: string, slackUserId: string) =>
      fetch(`${url}/v1/operators`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, roles: ['approver'], max_tier: 3, slack_user_id: slackUserId }),
      });
    const first = await create('frank', 'U_FRANK');
    expect(first.status).toBe(201);
    const { id: frankId } = (await first.json()) as { id: string };
    await waitFor(() => app.get(IdentityDirectory).operator(frankId), 'frank in the directory');
    const dup = await create('mallory', 'U_FRANK');
    expect(dup.status).toBe(409);
    expect(dup.headers.get('content-type')).toContain('application/problem+json');
    expect((await dup.json()) as { title: string; detail: string }).toMatchObject({
      title: 'SLACK.ALREADY_LINKED',
      detail: expect.stringContaining('U_FRANK'),
    });

    // two links that raced past the check (or came from the log): Slack acts as neither
    await createOperator('grace', 'U_GRACE', 3);
    await createOperator('mallory', 'U_GRACE', 3);
    const env = requested('push');
    const id = env.data.approval_id;
    await publisher.publishEvent(env);
    await waitFor(() => status(id), 'the inbox row');
    await click(id, 'U_GRACE', APPROVE_ACTION, 'grace');
    const reply = await waitFor(() => slack.responses.find((x) => x.name === 'grace'), 'the reply');
    expect(reply.body.text).toMatch(/linked to more than one Warden operator/);
    expect(await status(id)).toBe('pending');
    const votes = await app
      .get<DataSource>(DATA_SOURCE)
      .query('SELECT count(*)::int AS n FROM approvals.votes WHERE approval_id = $1', [id]);
    expect(votes).toEqual([{ n: 0 }]);
  });

  it('retries a rate-limited post, and dead-letters a post Slack refuses for good', async () => {
    slack.failNext('chat.postMessage', 'ratelimited', 1);
    const env = requested('push');
    await publisher.publishEvent(env);
    await waitFor(() => postsFor(env.data.approval_id).length === 2, 'the failed and the retried post', 20_000);
    const okRow = await app
      .get<DataSource>(DATA_SOURCE)
      .query('SELECT ts FROM approvals.slack_messages WHERE approval_id = $1', [env.data.approval_id]);
    await waitFor(async () => {
      const rows = (await app
        .get<DataSource>(DATA_SOURCE)
        .query('SELECT ts FROM approvals.slack_messages WHERE approval_id = $1', [env.data.approval_id])) as {
        ts: string | null;
      }[];
      return rows[0]?.ts;
    }, 'the recorded ts');
    expect(okRow).toHaveLength(1);

    slack.failNext('chat.postMessage', 'channel_not_found', 1);
    const bad = requested('push');
    await publisher.publishEvent(bad);
    const dead = await waitFor(async () => {
      const msgs = await readAll(
        t.bus,
        t.subjects.streams.deadLetters,
        t.subjects.deadLetter('approvals', 'slack-requested'),
      );
      return msgs.find((m) => (m.json() as { id: string }).id === bad.id);
    }, 'the dead letter');
    expect(dead.subject).toBe(t.subjects.deadLetter('approvals', 'slack-requested'));
    const row = await app
      .get<DataSource>(DATA_SOURCE)
      .query('SELECT ts, claimed_at FROM approvals.slack_messages WHERE approval_id = $1', [bad.data.approval_id]);
    expect(row).toEqual([{ ts: null, claimed_at: null }]);
  });
});
