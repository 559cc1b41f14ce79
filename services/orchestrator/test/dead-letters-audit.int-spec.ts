import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createPublicKey, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Publisher, WorkConsumer, decodeEnvelope, makeEnvelope } from '@warden/bus';
import { DomainError, deriveProducerSeed, ed25519PrivateKey, newId, newTraceId, rawPublicKey } from '@warden/kernel';
import { startService } from '@warden/runtime';
import { secretHash } from '@warden/identity';
import {
  TEST_KEYRING_SEED,
  createTestEnv,
  forgeAs,
  readAll,
  testPublisher,
  waitFor,
  type TestEnv,
} from '@warden/testing';
import { main, verifyExportText } from '@warden/cli';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';

const ADMIN = 'test-admin-token-dlq-audit-0123456789';
const VIEWER = 'viewer-token-dlq-audit-0123456789';

/**
 * Dead letters as an operator handles them, and the audit chain, on real NATS + Postgres: a poison
 * message dead-lettered by a consumer with a (simulated) bug, listed, shown, redriven once after the fix
 * and processed once; a second redrive refused; discard; a forged event redriven is refused again. The
 * chain's export verifies, and every kind of tampering is named; it still verifies after a restart and
 * after an audit key rotation.
 */
describe('dead letters and the audit chain', () => {
  let t: TestEnv;
  let app: INestApplication | undefined;
  let url: string;
  let publisher: Publisher;
  let dir: string;
  const extraEnv: Record<string, string> = {};

  const start = async () => {
    const config = loadConfig({
      ...process.env,
      ...t.env,
      ORCHESTRATOR_PORT: '0',
      WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      AUDIT_CHECKPOINT_EVERY: '3',
      ...extraEnv,
    });
    app = await startService(AppModule.forRoot(config), { service: 'orchestrator', port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  };

  async function cli(
    argv: string[],
    token: string | null = ADMIN,
  ): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io = {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
      env: { ORCHESTRATOR_URL: url, ...(token ? { WARDEN_TOKEN: token } : {}) },
      root: dir,
    };
    const code = await main(argv, io);
    return { code, out, err };
  }

  async function http(method: string, path: string, token: string | null = ADMIN, body?: unknown) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  }

  beforeAll(async () => {
    t = await createTestEnv();
    dir = mkdtempSync(join(tmpdir(), 'warden-dlq-'));
    publisher = testPublisher(t);
    await start();
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function taskReceived(runId = newId()) {
    return makeEnvelope({
      type: 'task_received',
      runId,
      producer: 'ingest',
      traceId: newTraceId(),
      data: {
        submission: {
          run_id: runId,
          agent: { id: 'agent-dlq', role: 'dev' },
          action: { tool: 'fs.read_file', args: { path: 'a' } },
        },
        channel: 'bus',
      },
    });
  }

  describe('dead letters', () => {
    let broken = true;
    const processed: string[] = [];
    let consumer: WorkConsumer;
    const CONSUMER = 'policy-poison-test';

    beforeAll(async () => {
      // a consumer with a bug: it refuses every task_received until "fixed"
      consumer = new WorkConsumer(
        t.bus,
        t.subjects,
        {
          service: 'policy',
          name: 'poison-test',
          stream: t.subjects.streams.events,
          filterSubject: t.subjects.eventsOfType('task_received'),
        },
        async (msg) => {
          const env = decodeEnvelope(msg.json());
          if (broken) throw new DomainError('TEST.CONSUMER_BUG', 'simulated bug: cannot handle this submission');
          processed.push(env.id);
        },
      );
      await consumer.start();
    });
    afterAll(async () => {
      await consumer.stop();
    });

    async function deadLetterOf(eventId: string, code: string) {
      return waitFor(async () => {
        const r = await http('GET', `/v1/dead-letters?consumer=${CONSUMER}&code=${code}`);
        const rows = (r.body?.dead_letters ?? []) as { dlq_seq: number }[];
        for (const row of rows) {
          const d = await http('GET', `/v1/dead-letters/${row.dlq_seq}`);
          if ((d.body?.body as { id?: string } | undefined)?.id === eventId && d.body?.status === 'pending')
            return d.body;
        }
        return undefined;
      }, `dead letter of ${eventId}`);
    }

    it('lists and shows a poison message, redrives it once after the fix, refuses a second redrive', async () => {
      const env = taskReceived();
      await publisher.publishEvent(env);
      const d = await deadLetterOf(env.id, 'TEST.CONSUMER_BUG');
      const seq = d.dlq_seq as number;
      expect(d).toMatchObject({
        service: 'policy',
        consumer: CONSUMER,
        code: 'TEST.CONSUMER_BUG',
        category: 'refused',
        original_subject: t.subjects.event(env.run_id!, 'task_received'),
        original_stream: t.subjects.streams.events,
        why: { reason: 'simulated bug: cannot handle this submission' },
      });
      expect((d.headers as Record<string, string>)['Warden-Dlq-Code']).toBe('TEST.CONSUMER_BUG');

      const list = await cli(['dlq', 'list', '--consumer', CONSUMER, '--reason', 'refused', '--since', '1h']);
      expect(list.code).toBe(0);
      expect(list.out).toContain(`${seq} `);
      expect(list.out).toContain('TEST.CONSUMER_BUG');
      const show = await cli(['dlq', 'show', String(seq)]);
      expect(show.out).toContain('simulated bug');
      expect(show.out).toContain(env.id);

      broken = false; // the fix
      const redrive = await cli(['dlq', 'redrive', String(seq), '--comment', 'bug fixed']);
      expect(redrive).toMatchObject({ code: 0 });
      expect(redrive.out).toContain(`redrive:${t.subjects.streams.deadLetters}:${seq}`);
      await waitFor(() => processed.includes(env.id), 'the redriven message processed');

      // exactly once: a second redrive is refused, over REST and the CLI
      const again = await http('POST', `/v1/dead-letters/${seq}/redrive`, ADMIN, {});
      expect(again.status).toBe(409);
      expect((await cli(['dlq', 'redrive', String(seq)])).code).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(processed.filter((id) => id === env.id)).toHaveLength(1);
      // the orchestrator's own projection saw the redriven copy and kept one timeline entry
      const run = await http('GET', `/v1/runs/${env.run_id}`);
      expect((run.body!.events as { type: string }[]).filter((e) => e.type === 'task_received')).toHaveLength(1);

      const after = await http('GET', `/v1/dead-letters/${seq}`);
      expect(after.body).toMatchObject({ status: 'redriven', handled_by_id: expect.any(String), note: 'bug fixed' });
      const audit = await waitFor(async () => {
        const evs = await readAll(
          t.bus,
          t.subjects.streams.events,
          t.subjects.deadLetterEvent(String(seq), 'dead_letter_redriven'),
        );
        return evs.length
          ? (evs[0]!.json() as { producer: string; sig?: string; data: Record<string, unknown> })
          : undefined;
      }, 'dead_letter_redriven');
      expect(audit).toMatchObject({
        producer: 'orchestrator',
        data: { dlq_seq: seq, consumer: CONSUMER, operator: 'bootstrap-admin' },
      });
      expect(audit.sig).toMatch(/^ed25519:/);
    });

    it('discards a dead letter (recorded), after which it cannot be redriven', async () => {
      broken = true;
      const env = taskReceived();
      await publisher.publishEvent(env);
      const d = await deadLetterOf(env.id, 'TEST.CONSUMER_BUG');
      const seq = d.dlq_seq as number;
      const r = await cli(['dlq', 'discard', String(seq), '--reason', 'test data']);
      expect(r.code).toBe(0);
      expect((await http('POST', `/v1/dead-letters/${seq}/redrive`, ADMIN, {})).status).toBe(409);
      expect((await http('POST', `/v1/dead-letters/${seq}/discard`, ADMIN, {})).status).toBe(409);
      expect((await http('GET', `/v1/dead-letters?status=discarded`)).body!.dead_letters).toEqual([
        expect.objectContaining({ dlq_seq: seq, status: 'discarded', note: 'test data' }),
      ]);
      await waitFor(
        async () =>
          (
            await readAll(
              t.bus,
              t.subjects.streams.events,
              t.subjects.deadLetterEvent(String(seq), 'dead_letter_discarded'),
            )
          ).length === 1,
        'dead_letter_discarded',
      );
      broken = false;
    });

    it('a forged event redriven is refused again, never re-signed', async () => {
      const env = forgeAs(taskReceived());
      await publisher.publishEvent(env);
      const d = await deadLetterOf(env.id, 'EVENT.FORGED');
      expect(d.category).toBe('forged');
      expect((await http('POST', `/v1/dead-letters/${d.dlq_seq as number}/redrive`, ADMIN, {})).status).toBe(200);
      // refused again: a new dead letter of the same (still forged) event
      await deadLetterOf(env.id, 'EVENT.FORGED');
      expect(processed).not.toContain(env.id);
    });

    it('needs an admin token: 401 without one, 403 for a viewer', async () => {
      const viewerId = newId();
      await publisher.publishEvent(
        makeEnvelope({
          type: 'operator_created',
          runId: null,
          producer: 'approvals',
          traceId: newTraceId(),
          correlationId: viewerId,
          data: {
            operator_id: viewerId,
            name: 'viewer-dlq',
            roles: ['viewer'],
            max_tier: 1,
            token_hash: secretHash(VIEWER),
            created_by: 'test',
          },
        }),
      );
      await waitFor(async () => (await http('GET', '/v1/runs', VIEWER)).status === 200, 'viewer admitted');
      expect((await http('GET', '/v1/dead-letters', null)).status).toBe(401);
      expect((await http('GET', '/v1/dead-letters', VIEWER)).status).toBe(403);
      expect((await http('POST', '/v1/dead-letters/1/redrive', VIEWER, {})).status).toBe(403);
      expect((await http('POST', '/v1/dead-letters/1/discard', null, {})).status).toBe(401);
      expect((await cli(['dlq', 'list'], VIEWER)).code).toBe(1);
      expect((await http('GET', '/v1/dead-letters/999999', ADMIN)).status).toBe(404);
    });
  });

  describe('the audit chain', () => {
    async function cancelled(n: number): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const runId = newId();
        ids.push(runId);
        await publisher.publishEvent(
          makeEnvelope({
            type: 'run_cancelled',
            runId,
            producer: 'orchestrator',
            traceId: newTraceId(),
            data: { by: 'test' },
          }),
        );
      }
      return ids;
    }

    async function exportText(): Promise<string> {
      const file = join(dir, `export-${randomBytes(4).toString('hex')}.jsonl`);
      const r = await cli(['audit', 'export', '--out', file], VIEWER);
      expect(r).toMatchObject({ code: 0 });
      return readFileSync(file, 'utf8');
    }

    async function recordsFor(runIds: string[]): Promise<void> {
      await waitFor(async () => {
        const text = await exportText();
        return runIds.every((id) => text.includes(`"run_id":"${id}","occurred_at"`) || text.includes(id));
      }, 'records in the chain');
    }

    async function keys() {
      return (await http('GET', '/v1/audit/keys', null)).body!.keys as { key_id: string; public_key: string }[];
    }

    it('exports a chain that verifies, and names every kind of tampering', async () => {
      const runs = await cancelled(7);
      await recordsFor(runs);
      const text = await exportText();
      const file = join(dir, 'good.jsonl');
      writeFileSync(file, text);
      const good = await cli(['audit', 'verify', '--file', file]);
      expect(good.out).toMatch(/^ok: /);
      expect(good.code).toBe(0);
      expect((await cli(['audit', 'verify'], VIEWER)).code).toBe(0);
      const k = await keys();

      const lines = text.trimEnd().split('\n');
      const items = lines.map(
        (l) =>
          JSON.parse(l) as { kind: string; seq?: number; run_id?: string; event?: { data: Record<string, unknown> } },
      );
      const recIdx = items.map((it, i) => (it.kind === 'record' ? i : -1)).filter((i) => i >= 0);
      const nth = (n: number) => items[recIdx[n]!]!;
      const join2 = (ls: string[]) => ls.join('\n') + '\n';
      const problems = (ls: string[]) => verifyExportText(join2(ls), k).problems;

      // delete: the missing sequence is named
      const victim = nth(3);
      const deleted = problems(lines.filter((_, i) => i !== recIdx[3]));
      expect(deleted).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'deleted', seq: victim.seq })]));
      // reorder
      const swapped = [...lines];
      [swapped[recIdx[2]!], swapped[recIdx[4]!]] = [swapped[recIdx[4]!]!, swapped[recIdx[2]!]!];
      expect(problems(swapped)).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'reordered' })]));
      // edit: the event's content changed
      const edited = [...lines];
      const e = JSON.parse(edited[recIdx[5]!]!) as { event: { data: { by: string } }; seq: number; run_id: string };
      e.event.data.by = 'mallory';
      edited[recIdx[5]!] = JSON.stringify(e);
      expect(problems(edited)).toEqual([expect.objectContaining({ kind: 'edited', seq: e.seq, run_id: e.run_id })]);
      // truncate: the last records dropped
      const truncated = problems(lines.slice(0, recIdx[recIdx.length - 2]!));
      expect(truncated).toEqual([expect.objectContaining({ kind: 'truncated' })]);
      // forge a checkpoint: sign it with a key nobody published
      const cpIdx = items.findIndex((it) => it.kind === 'checkpoint');
      expect(cpIdx).toBeGreaterThan(0);
      const forged = [...lines];
      const cp = JSON.parse(forged[cpIdx]!) as { sig: string };
      cp.sig = 'ed25519:' + randomBytes(64).toString('base64');
      forged[cpIdx] = JSON.stringify(cp);
      expect(problems(forged)).toEqual([expect.objectContaining({ kind: 'forged_checkpoint' })]);
      // and the CLI exits 3 naming it
      writeFileSync(join(dir, 'bad.jsonl'), join2(lines.filter((_, i) => i !== recIdx[3])));
      const bad = await cli(['audit', 'verify', '--file', join(dir, 'bad.jsonl')]);
      expect(bad.code).toBe(3);
      expect(bad.out).toContain(`record seq ${victim.seq} is missing`);

      // OCSF: API Activity, with the chain record alongside
      const ocsf = await cli(['audit', 'export', '--format', 'ocsf'], VIEWER);
      const first = JSON.parse(ocsf.out.split('\n')[0]!) as Record<string, unknown>;
      expect(first).toMatchObject({ class_uid: 6003, category_uid: 6, metadata: { product: { name: 'Warden' } } });
    });

    it('still verifies after a restart and after an audit key rotation (earlier keys accepted)', async () => {
      await app!.close();
      await start();
      const more = await cancelled(4);
      await recordsFor(more);
      expect(verifyExportText(await exportText(), await keys()).ok).toBe(true);

      // rotate: a new audit key; the old one listed as an earlier public key
      const oldPublic = rawPublicKey(
        createPublicKey(ed25519PrivateKey(deriveProducerSeed(TEST_KEYRING_SEED, 'audit'))),
      );
      extraEnv.WARDEN_AUDIT_KEY = randomBytes(32).toString('base64');
      extraEnv.WARDEN_AUDIT_PUBLIC_KEYS = oldPublic;
      await app!.close();
      await start();
      const rotated = await cancelled(4);
      await recordsFor(rotated);
      const k = await keys();
      expect(k).toHaveLength(2);
      const text = await exportText();
      const report = verifyExportText(text, k);
      expect(report.problems).toEqual([]);
      expect(report.key_ids).toHaveLength(2);
      // without the earlier key, the checkpoints it signed cannot be trusted
      const onlyNew = verifyExportText(text, k.slice(0, 1));
      expect(onlyNew.problems.map((p) => p.kind)).toContain('forged_checkpoint');
      const print = await cli(['audit', 'key']);
      expect(print.out).toContain('current');
      expect(print.out).toContain(oldPublic);
    });
  });
});
