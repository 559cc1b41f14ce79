import 'reflect-metadata';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { Headers } from '@warden/bus';
import type { Action, ExecuteCommand, RunResult } from '@warden/contracts';
import { deriveId, loadSigningKeys, newId, type SigningKeys, signingKeysOf } from '@warden/kernel';
import { startService } from '@warden/runtime';
import { createTestEnv, runEvents, waitFor, type TestEnv, testKeyring } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { signedCommand, testDecision } from './signed-command';

interface Event {
  id: string;
  type: string;
  trace_id: string;
  causation_id: string;
  correlation_id: string;
  producer: string;
  data: { result?: RunResult; worker_id?: string; attempt?: number };
}
type Row = Record<string, unknown>;

describe('workers (real NATS + Postgres)', () => {
  let t: TestEnv;
  let app: INestApplication;
  let db: Client;
  let keys: SigningKeys;
  let base: string;
  let ws: string;

  beforeAll(async () => {
    t = await createTestEnv();
    keys = signingKeysOf(testKeyring('orchestrator'), 'orchestrator');
    base = mkdtempSync(path.join(tmpdir(), 'warden-workers-int-'));
    ws = path.join(base, 'workspace'); // does not exist yet: the service must create it
    mkdirSync(path.join(base, 'outside'));
    const config = loadConfig({
      ...process.env,
      ...t.env,
      WORKERS_PORT: '0',
      WARDEN_WORKSPACE: ws,
      // a worker needs only the public half
      WORKER_ID: 'worker-int-1',
    });
    app = await startService(AppModule.forRoot(config), { service: 'workers', port: 0 });
    db = new Client({ connectionString: t.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await app?.close();
    await db?.end();
    await t?.cleanup();
    rmSync(base, { recursive: true, force: true });
  });

  const publish = (cmd: unknown, role = 'dev') =>
    t.bus.js.publish(t.subjects.workerExecute(role), typeof cmd === 'string' ? cmd : JSON.stringify(cmd));
  const events = async (runId: string) => (await runEvents(t.bus, t.subjects, runId)) as unknown as Event[];
  const completion = (runId: string) =>
    waitFor(
      async () => (await events(runId)).find((e) => e.type === 'run_succeeded' || e.type === 'run_failed'),
      `completion of ${runId}`,
      15_000,
      100,
    );
  const execution = async (runId: string) =>
    (await db.query('SELECT * FROM "workers".executions WHERE run_id = $1', [runId])).rows[0] as Row | undefined;
  // the dead-letter copy of a command, with the headers that say why
  const deadLetter = (runId: string, role = 'dev') =>
    waitFor(
      async () => {
        const stream = t.subjects.streams.deadLetters;
        const { first_seq, last_seq } = (await t.bus.jsm.streams.info(stream)).state;
        for (let seq = first_seq; seq > 0 && seq <= last_seq; seq++) {
          const m = await t.bus.jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
          if (m?.subject === t.subjects.deadLetter('workers', `execute-${role}`) && m.string().includes(runId)) {
            return { code: m.header.get(Headers.dlqCode), reason: m.header.get(Headers.dlqReason) };
          }
        }
        return undefined;
      },
      `dead letter for ${runId}`,
      15_000,
      100,
    );
  const refusals = async (runId: string) =>
    (await db.query('SELECT * FROM "workers".refusals WHERE run_id = $1', [runId])).rows as Row[];
  // the command stream is a work queue: a message leaves it once acked (and only then)
  const settled = (...seqs: number[]) =>
    waitFor(
      async () => {
        for (const seq of seqs) {
          const m = await t.bus.jsm.streams.getMessage(t.subjects.streams.commands, { seq }).catch(() => undefined);
          if (m) return false;
        }
        return true;
      },
      `commands ${seqs.join(', ')} to be acked`,
      20_000,
      100,
    );
  const write = (p: string, content: string): Action => ({ tool: 'fs.write_file', args: { path: p, content } });
  const read = (p: string): Action => ({ tool: 'fs.read_file', args: { path: p } });

  it('creates the workspace at start', () => {
    expect(existsSync(ws)).toBe(true);
  });

  it('executes a signed write: run_started then run_succeeded, one trace, deterministic ids', async () => {
    const cmd = signedCommand(keys, write('notes/a.md', 'hello'));
    await publish(cmd);
    const done = await completion(cmd.run_id);
    expect(done.type).toBe('run_succeeded');
    expect(readFileSync(path.join(ws, 'notes/a.md'), 'utf8')).toBe('hello');

    const evs = await events(cmd.run_id);
    expect(evs.map((e) => e.type)).toEqual(['run_started', 'run_succeeded']);
    for (const e of evs) {
      expect(e).toMatchObject({
        trace_id: cmd.trace_id,
        causation_id: cmd.command_id,
        correlation_id: cmd.run_id,
        producer: 'workers',
      });
      expect(e.id).toBe(deriveId(cmd.command_id, e.type));
    }
    expect(evs[0]!.data).toEqual({ worker_id: 'worker-int-1', attempt: 1 });
    expect(evs[1]!.data.result).toMatchObject({ output: { path: 'notes/a.md', bytes_written: 5, created: true } });
    expect(evs[1]!.data.result!.output_hash).toMatch(/^sha256:[0-9a-f]{64}$/);

    const row = await execution(cmd.run_id);
    expect(row).toMatchObject({
      status: 'succeeded',
      attempt: 1,
      tool: 'fs.write_file',
      command_id: cmd.command_id,
      worker_id: 'worker-int-1',
    });
    expect(row!.finished_at).toBeInstanceOf(Date);
  });

  it('says whether a write created the file, so flagging can compensate with fs.delete', async () => {
    writeFileSync(path.join(ws, 'existing.md'), 'old');
    // a root worker's sandboxes run as the workspace's owner: hand it the file, as an operator would
    const owner = statSync(ws);
    chownSync(path.join(ws, 'existing.md'), owner.uid, owner.gid);
    const over = signedCommand(keys, write('existing.md', 'new'));
    const fresh = signedCommand(keys, write('fresh/created.md', 'new'));
    await Promise.all([publish(over), publish(fresh)]);
    const [a, b] = await Promise.all([completion(over.run_id), completion(fresh.run_id)]);
    expect(a.data.result!.output).toEqual({
      path: 'existing.md',
      bytes_written: 3,
      created: false,
      previous_bytes: 3,
      previous_content: 'old',
    });
    expect(b.data.result!.output).toEqual({ path: 'fresh/created.md', bytes_written: 3, created: true });
    // what approvals' compensation proposes for the created file (`fs.delete {path}`) undoes it
    const undo = signedCommand(keys, { tool: 'fs.delete', args: { path: 'fresh/created.md' } });
    await publish(undo);
    expect((await completion(undo.run_id)).type).toBe('run_succeeded');
    expect(existsSync(path.join(ws, 'fresh/created.md'))).toBe(false);
    expect(readFileSync(path.join(ws, 'existing.md'), 'utf8')).toBe('new');
  });

  it('executes a signed read and returns the content', async () => {
    writeFileSync(path.join(ws, 'readme.txt'), 'read me');
    const cmd = signedCommand(keys, read('readme.txt'), { role: 'research' });
    await publish(cmd, 'research');
    const done = await completion(cmd.run_id);
    expect(done.type).toBe('run_succeeded');
    expect(done.data.result!.output).toEqual({ content: 'read me', bytes: 7 });
    expect(done.trace_id).toBe(cmd.trace_id);
  });

  it('lists a directory', async () => {
    const cmd = signedCommand(keys, { tool: 'fs.list_dir', args: { path: 'notes' } });
    await publish(cmd);
    const done = await completion(cmd.run_id);
    expect(done.data.result!.output).toEqual({ entries: [{ name: 'a.md', type: 'file', size: 5 }] });
  });

  it('executes a compute decision as its rewritten action', async () => {
    const rewritten = write('safe/b.md', 'rewritten');
    const cmd = signedCommand(keys, rewritten, {
      decision: testDecision({ outcome: 'compute', rewritten_action: rewritten }),
    });
    await publish(cmd);
    expect((await completion(cmd.run_id)).type).toBe('run_succeeded');
    expect(readFileSync(path.join(ws, 'safe/b.md'), 'utf8')).toBe('rewritten');
  });

  it('fails a run, without crashing, on a tool error and an escape', async () => {
    const missing = signedCommand(keys, read('nope.txt'));
    const escape = signedCommand(keys, write('../outside/pwned.txt', 'x'));
    await Promise.all([publish(missing), publish(escape)]);
    const [a, b] = await Promise.all([completion(missing.run_id), completion(escape.run_id)]);
    expect(a).toMatchObject({
      type: 'run_failed',
      data: { result: { output: null, error: { code: 'FS.NOT_FOUND' } } },
    });
    expect(b).toMatchObject({ type: 'run_failed', data: { result: { error: { code: 'PATH.ESCAPE' } } } });
    expect(existsSync(path.join(base, 'outside', 'pwned.txt'))).toBe(false);
    expect((await execution(missing.run_id))!.status).toBe('failed');
  });

  describe('refuses inauthentic commands: dead-lettered, recorded, nothing executed, no event', () => {
    async function expectRefused(cmd: ExecuteCommand, code: string, reason: string, file: string, role = 'dev') {
      const dl = await deadLetter(cmd.run_id, role);
      expect(dl.code).toBe(code);
      const rows = await refusals(cmd.run_id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        reason,
        code,
        subject: t.subjects.workerExecute(role),
        command_id: cmd.command_id,
      });
      expect(rows[0]!.at).toBeInstanceOf(Date);
      expect(existsSync(path.join(ws, file))).toBe(false);
      expect(await execution(cmd.run_id)).toBeUndefined();
      // announced on the run's subject; the run's status is untouched (no run_* event)
      const evs = await waitFor(async () => {
        const e = await events(cmd.run_id);
        return e.length > 0 ? e : undefined;
      }, `command_refused of ${cmd.run_id}`);
      expect(evs).toHaveLength(1);
      expect(evs[0]).toMatchObject({
        type: 'command_refused',
        producer: 'workers',
        run_id: cmd.run_id,
        data: { code, role, worker_id: 'worker-int-1', command_id: cmd.command_id },
      });
    }

    it('a signature by another key', async () => {
      const other = loadSigningKeys(newKey(), undefined);
      const cmd = signedCommand(other, write('forged.txt', 'x'));
      await publish(cmd);
      await expectRefused(cmd, 'COMMAND.FORGED', 'forged', 'forged.txt');
    });

    it('a tampered action', async () => {
      const cmd = signedCommand(keys, write('innocent.txt', 'x'));
      const tampered = { ...cmd, action: write('tampered.txt', 'evil') };
      await publish(tampered);
      await expectRefused(tampered, 'COMMAND.FORGED', 'forged', 'tampered.txt');
      expect(existsSync(path.join(ws, 'innocent.txt'))).toBe(false);
    });

    it("a command for another role arriving on this role's subject", async () => {
      const cmd = signedCommand(keys, write('wrong-role.txt', 'x'), { role: 'dev' });
      await publish(cmd, 'research');
      await expectRefused(cmd, 'COMMAND.ROLE_MISMATCH', 'role_mismatch', 'wrong-role.txt', 'research');
    });

    it('a deny decision', async () => {
      const cmd = signedCommand(keys, write('denied.txt', 'x'), {
        decision: testDecision({ outcome: 'deny', reasons: ['no'] }),
      });
      await publish(cmd);
      await expectRefused(cmd, 'COMMAND.NOT_PERMITTED', 'not_permitted', 'denied.txt');
    });

    it('a decision swapped after signing', async () => {
      const cmd = signedCommand(keys, write('swapped.txt', 'x'), { decision: testDecision({ outcome: 'deny' }) });
      const swapped = { ...cmd, decision: { ...cmd.decision, outcome: 'allow' } };
      await publish(swapped);
      await expectRefused(cmd, 'COMMAND.DECISION_TAMPERED', 'decision_tampered', 'swapped.txt');
    });

    it('a body that is not an ExecuteCommand', async () => {
      const runId = newId();
      await publish({ run_id: runId, action: write('garbage.txt', 'x') });
      const dl = await deadLetter(runId);
      expect(dl.code).toBe('VALIDATION.FAILED');
      expect(dl.reason).toContain('signature');
      expect(await refusals(runId)).toMatchObject([{ reason: 'invalid', code: 'VALIDATION.FAILED' }]);
      expect(existsSync(path.join(ws, 'garbage.txt'))).toBe(false);
      // a UUID run id: the refusal is on the run's subject
      expect((await events(runId)).map((e) => e.type)).toEqual(['command_refused']);
    });

    it('a body without a usable run id: command_refused on the refused subject', async () => {
      const marker = `not-a-uuid-${newId()}`;
      const ack = await publish({ run_id: marker, command_id: marker });
      const seen = await waitFor(
        async () => {
          const { first_seq, last_seq } = (await t.bus.jsm.streams.info(t.subjects.streams.events)).state;
          for (let seq = last_seq; seq >= first_seq && seq > 0; seq--) {
            const m = await t.bus.jsm.streams.getMessage(t.subjects.streams.events, { seq }).catch(() => undefined);
            if (m?.subject.startsWith(`${t.subjects.prefix}.events.refused.`) && m.string().includes(marker)) return m;
          }
          return undefined;
        },
        'refused event',
        15_000,
        100,
      );
      const env = seen.json<{ run_id: unknown; type: string; data: { code: string } }>();
      expect(seen.subject).toMatch(/\.events\.refused\.[0-9a-f-]{36}\.command_refused$/);
      expect(env).toMatchObject({ run_id: null, type: 'command_refused', data: { code: 'VALIDATION.FAILED' } });
      await settled(ack.seq);
    });

    it('counts refusals by reason in /metrics', async () => {
      const port = (app.getHttpServer().address() as AddressInfo).port;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/warden_workers_refused_total\{[^}]*reason="forged"[^}]*\} 2/);
      expect(text).toMatch(/warden_workers_refused_total\{[^}]*reason="role_mismatch"[^}]*\} 1/);
    });
  });

  describe('an authentic command for a tool outside the role: refused, and the run ends failed', () => {
    const notInRole = (runId?: string) =>
      signedCommand(keys, { tool: 'http.get', args: { url: 'http://example.com/' } }, runId ? { run_id: runId } : {});

    async function expectEndedNotInRole(cmd: ExecuteCommand, tool: string) {
      const done = await completion(cmd.run_id);
      expect(done).toMatchObject({
        type: 'run_failed',
        id: deriveId(cmd.command_id, 'run_failed'),
        trace_id: cmd.trace_id,
        causation_id: cmd.command_id,
        producer: 'workers',
        data: {
          result: {
            output: null,
            error: { code: 'TOOL.NOT_IN_ROLE', message: `role "dev" has no tool "${tool}"` },
          },
        },
      });
      expect(done.data.result!.outcome_unknown).toBeUndefined();
      // refused all the same: dead-lettered, recorded, announced
      expect((await deadLetter(cmd.run_id)).code).toBe('COMMAND.TOOL_NOT_IN_ROLE');
      expect(await refusals(cmd.run_id)).toMatchObject([
        { reason: 'tool_not_in_role', code: 'COMMAND.TOOL_NOT_IN_ROLE', command_id: cmd.command_id },
      ]);
      const evs = await waitFor(async () => {
        const e = await events(cmd.run_id);
        return e.some((x) => x.type === 'command_refused') ? e : undefined;
      }, `command_refused of ${cmd.run_id}`);
      // no run_started: nothing executed
      expect(evs.map((e) => e.type)).toEqual(['run_failed', 'command_refused']);
      // claimed like any outcome: finished, never started
      const row = await execution(cmd.run_id);
      expect(row).toMatchObject({ status: 'failed', attempt: 1, tool, command_id: cmd.command_id });
      expect(row!.result).toMatchObject({ error: { code: 'TOOL.NOT_IN_ROLE' } });
    }

    it('publishes run_failed (TOOL.NOT_IN_ROLE) with a deterministic id and runs nothing', async () => {
      const cmd = notInRole();
      await publish(cmd);
      await expectEndedNotInRole(cmd, 'http.get');
      const unknown = signedCommand(keys, { tool: 'secrets.read', args: { name: 'db' } });
      await publish(unknown);
      await expectEndedNotInRole(unknown, 'secrets.read');
    });

    it('a second copy ends nothing again: one run_failed, each copy refused', async () => {
      const cmd = notInRole();
      await publish(cmd);
      await expectEndedNotInRole(cmd, 'http.get');
      const again = await publish(cmd);
      await settled(again.seq);
      const evs = await events(cmd.run_id);
      expect(evs.map((e) => e.type)).toEqual(['run_failed', 'command_refused', 'command_refused']);
      expect(await refusals(cmd.run_id)).toHaveLength(2);
    });

    it('copies arriving at the same moment: one run_failed, every copy refused as not in role', async () => {
      const cmd = notInRole();
      const acks = await Promise.all([publish(cmd), publish(cmd), publish(cmd)]);
      await settled(...acks.map((x) => x.seq));
      const evs = await events(cmd.run_id);
      expect(evs.filter((e) => e.type.startsWith('run_')).map((e) => e.id)).toEqual([
        deriveId(cmd.command_id, 'run_failed'),
      ]);
      const refused = evs.filter((e) => e.type === 'command_refused');
      expect(refused).toHaveLength(3);
      for (const e of refused) expect(e.data).toMatchObject({ code: 'COMMAND.TOOL_NOT_IN_ROLE' });
      expect(await refusals(cmd.run_id)).toHaveLength(3);
    });

    it('a redelivery after its run_failed was lost republishes the recorded ending, runs nothing', async () => {
      const cmd = notInRole();
      // the claim a first delivery made before its run_failed publish failed (same message: next seq)
      const seq = (await t.bus.jsm.streams.info(t.subjects.streams.commands)).state.last_seq + 1;
      const recorded = {
        output: null,
        output_hash: 'sha256:' + '0'.repeat(64),
        error: { code: 'TOOL.NOT_IN_ROLE', message: 'recorded by the first delivery' },
      };
      await db.query(
        `INSERT INTO "workers".executions (run_id, command_id, tool, action, status, attempt, trace_id, worker_id,
                                           stream_seq, result, finished_at)
         VALUES ($1, $2, $3, $4, 'failed', 1, $5, 'worker-int-1', $6, $7, now())`,
        [cmd.run_id, cmd.command_id, 'http.get', JSON.stringify(cmd.action), cmd.trace_id, seq, recorded],
      );
      const ack = await publish(cmd);
      expect(ack.seq).toBe(seq);
      const done = await completion(cmd.run_id);
      expect(done).toMatchObject({ id: deriveId(cmd.command_id, 'run_failed'), data: { result: recorded } });
      await settled(ack.seq);
      expect((await events(cmd.run_id)).map((e) => e.type)).toEqual(['run_failed', 'command_refused']);
      expect((await deadLetter(cmd.run_id)).code).toBe('COMMAND.TOOL_NOT_IN_ROLE');
    });

    it('does not end a run another command already executed', async () => {
      const first = signedCommand(keys, write('kept.txt', 'x'));
      await publish(first);
      expect((await completion(first.run_id)).type).toBe('run_succeeded');
      const late = notInRole(first.run_id);
      await settled((await publish(late)).seq);
      const evs = await events(first.run_id);
      expect(evs.map((e) => e.type)).toEqual(['run_started', 'run_succeeded', 'command_refused']);
      expect(evs[2]).toMatchObject({ causation_id: late.command_id, data: { code: 'COMMAND.TOOL_NOT_IN_ROLE' } });
      expect(await execution(first.run_id)).toMatchObject({ status: 'succeeded', command_id: first.command_id });
    });

    it('a later in-role command for the ended run is a replay: nothing runs', async () => {
      const cmd = notInRole();
      await publish(cmd);
      await expectEndedNotInRole(cmd, 'http.get');
      const later = signedCommand(keys, write('after-refusal.txt', 'x'), { run_id: cmd.run_id });
      await settled((await publish(later)).seq);
      expect(existsSync(path.join(ws, 'after-refusal.txt'))).toBe(false);
      const evs = await events(cmd.run_id);
      expect(evs.map((e) => e.type)).toEqual(['run_failed', 'command_refused', 'command_refused']);
      expect(evs[2]!.data).toMatchObject({ code: 'COMMAND.REPLAYED' });
    });

    it('forged or tampered: changes nothing (no run_failed, no claim)', async () => {
      const forged = signedCommand(loadSigningKeys(newKey(), undefined), {
        tool: 'http.get',
        args: { url: 'http://example.com/' },
      });
      const genuine = notInRole();
      const tampered = { ...genuine, action: { tool: 'secrets.read', args: { name: 'db' } } };
      await Promise.all([publish(forged), publish(tampered)]);
      expect((await deadLetter(forged.run_id)).code).toBe('COMMAND.FORGED');
      expect((await deadLetter(tampered.run_id)).code).toBe('COMMAND.FORGED');
      for (const c of [forged, tampered]) {
        const evs = await waitFor(async () => {
          const e = await events(c.run_id);
          return e.length > 0 ? e : undefined;
        }, `command_refused of ${c.run_id}`);
        expect(evs.map((e) => e.type)).toEqual(['command_refused']);
        expect(await execution(c.run_id)).toBeUndefined();
      }
    });

    it('counts them as refusals and as tool_not_in_role outcomes in /metrics', async () => {
      const port = (app.getHttpServer().address() as AddressInfo).port;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      // 2 + 2 (second copy) + 3 (simultaneous copies) + 1 (redelivery) + 1 (late) + 1 (ended run)
      expect(text).toMatch(/warden_workers_refused_total\{[^}]*reason="tool_not_in_role"[^}]*\} 10/);
      // by tool label (http.get, and `unknown` for secrets.read): 5 runs ended here (the redelivery republished)
      const ended = text
        .split('\n')
        .filter((l) => l.startsWith('warden_workers_executions_total{') && l.includes('outcome="tool_not_in_role"'))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      expect(ended).toBe(5);
    });
  });

  describe('at most once', () => {
    it('runs a command delivered twice only once and republishes the same events', async () => {
      const cmd = signedCommand(keys, write('once.txt', 'first'));
      await publish(cmd);
      await completion(cmd.run_id);
      // someone changes the file afterwards: a second execution would overwrite it
      writeFileSync(path.join(ws, 'once.txt'), 'changed later');
      // no Nats-Msg-Id: the broker delivers it again, as a redelivery would
      const again = await publish(cmd);
      await settled(again.seq);
      expect(readFileSync(path.join(ws, 'once.txt'), 'utf8')).toBe('changed later');
      // a second message with the same command is a replay: refused, announced, nothing republished
      const evs = await events(cmd.run_id);
      expect(evs.map((e) => e.type)).toEqual(['run_started', 'run_succeeded', 'command_refused']);
      expect(evs[2]!.data).toMatchObject({ code: 'COMMAND.REPLAYED' });
      expect(await refusals(cmd.run_id)).toMatchObject([{ reason: 'replayed', stream_seq: String(again.seq) }]);
      expect((await execution(cmd.run_id))!.attempt).toBe(1);
    });

    it('runs once when two copies arrive at the same moment', async () => {
      const cmd = signedCommand(keys, write('race.txt', 'x'));
      const acks = await Promise.all([publish(cmd), publish(cmd), publish(cmd)]);
      await completion(cmd.run_id);
      await settled(...acks.map((a) => a.seq));
      const types = (await events(cmd.run_id)).map((e) => e.type);
      expect(types.filter((x) => x.startsWith('run_'))).toEqual(['run_started', 'run_succeeded']);
      expect(types.filter((x) => x === 'command_refused')).toHaveLength(2);
      expect((await execution(cmd.run_id))!.attempt).toBe(1);
    });

    it('does not run again for a second command (new command_id) for the same run', async () => {
      const first = signedCommand(keys, write('second-cmd.txt', 'first'));
      await publish(first);
      const done = await completion(first.run_id);
      writeFileSync(path.join(ws, 'second-cmd.txt'), 'changed later');
      const second = signedCommand(keys, write('second-cmd.txt', 'second'), { run_id: first.run_id });
      expect(second.command_id).not.toBe(first.command_id);
      await settled((await publish(second)).seq);
      expect(readFileSync(path.join(ws, 'second-cmd.txt'), 'utf8')).toBe('changed later');
      const evs = await events(first.run_id);
      expect(evs.map((e) => e.id).slice(0, 2)).toEqual([deriveId(first.command_id, 'run_started'), done.id]);
      expect(evs.slice(2).map((e) => [e.type, e.causation_id])).toEqual([['command_refused', second.command_id]]);
      expect((await execution(first.run_id))!.command_id).toBe(first.command_id);
    });

    it('waits while another worker holds the run, then does not run it twice', async () => {
      const cmd = signedCommand(keys, write('held.txt', 'x'));
      const holder = new Client({ connectionString: t.databaseUrl });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`workers-run:${cmd.run_id}`]);
      await publish(cmd);
      await new Promise((r) => setTimeout(r, 1500));
      expect(existsSync(path.join(ws, 'held.txt'))).toBe(false);
      expect(await execution(cmd.run_id)).toBeUndefined();
      await holder.query('COMMIT');
      await holder.end();
      expect((await completion(cmd.run_id)).type).toBe('run_succeeded');
      expect(readFileSync(path.join(ws, 'held.txt'), 'utf8')).toBe('x');
    });

    /** A claim of a worker that died: after its tool began (`began`), or while it waited for a slot. */
    async function insertCrashedClaim(cmd: ExecuteCommand, began = true): Promise<void> {
      await db.query(
        `INSERT INTO "workers".executions (run_id, command_id, tool, action, status, attempt, trace_id, worker_id, began_at)
         VALUES ($1, $2, $3, $4, 'started', 1, $5, 'crashed-worker', CASE WHEN $6 THEN now() END)`,
        [cmd.run_id, cmd.command_id, cmd.action.tool, JSON.stringify(cmd.action), cmd.trace_id, began],
      );
    }

    it('hands back a write that was claimed but had not begun: it runs once, as the next attempt', async () => {
      const cmd = signedCommand(keys, write('handed-back.txt', 'once'));
      await insertCrashedClaim(cmd, false);
      await publish(cmd);
      const done = await completion(cmd.run_id);
      expect(done).toMatchObject({ type: 'run_succeeded', id: deriveId(cmd.command_id, 'run_succeeded') });
      expect(readFileSync(path.join(ws, 'handed-back.txt'), 'utf8')).toBe('once');
      expect(await execution(cmd.run_id)).toMatchObject({
        status: 'succeeded',
        attempt: 2,
        worker_id: 'worker-int-1',
        began_at: expect.any(Date),
      });
    });

    it('ends a write interrupted mid-execution failed with outcome_unknown and never writes', async () => {
      const cmd = signedCommand(keys, write('crashed.txt', 'x'));
      await insertCrashedClaim(cmd);
      await publish(cmd);
      const done = await completion(cmd.run_id);
      expect(done).toMatchObject({
        type: 'run_failed',
        id: deriveId(cmd.command_id, 'run_failed'),
        trace_id: cmd.trace_id,
        data: { result: { output: null, outcome_unknown: true, error: { code: 'OUTCOME_UNKNOWN' } } },
      });
      expect(done.data.result!.output_hash).toMatch(/^sha256:/);
      expect(existsSync(path.join(ws, 'crashed.txt'))).toBe(false);
      expect((await events(cmd.run_id)).map((e) => e.type)).toEqual(['run_started', 'run_failed']);
      expect(await execution(cmd.run_id)).toMatchObject({ status: 'failed', attempt: 1 });
    });

    it('re-executes a read interrupted mid-execution, as the next attempt with the same run_started id', async () => {
      writeFileSync(path.join(ws, 'again.txt'), 'again');
      const cmd = signedCommand(keys, read('again.txt'));
      await insertCrashedClaim(cmd);
      await publish(cmd);
      const done = await completion(cmd.run_id);
      expect(done).toMatchObject({
        type: 'run_succeeded',
        data: { result: { output: { content: 'again', bytes: 5 } } },
      });
      const evs = await events(cmd.run_id);
      expect(evs.map((e) => e.id)).toEqual([
        deriveId(cmd.command_id, 'run_started'),
        deriveId(cmd.command_id, 'run_succeeded'),
      ]);
      expect(await execution(cmd.run_id)).toMatchObject({ status: 'succeeded', attempt: 2, worker_id: 'worker-int-1' });
    });
  });
});

function newKey(): string {
  return Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 256))).toString('base64');
}
