import 'reflect-metadata';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { JsMsg } from '@nats-io/jetstream';
import { Client } from 'pg';
import { BusMessage, Headers, type Publisher } from '@warden/bus';
import type { Action, ExecuteCommand } from '@warden/contracts';
import {
  DomainError,
  TransientError,
  deriveId,
  loadSigningKeys,
  newId,
  type SigningKeys,
  signingKeysOf,
} from '@warden/kernel';
import { PUBLISHER, startService } from '@warden/runtime';
import { createTestEnv, readAll, runEvents, waitFor, type TestEnv, testKeyring } from '@warden/testing';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config';
import { ExecuteConsumer } from '../src/execution/consumers/execute.consumer';
import { RunBusyError } from '../src/execution/projections/execution.repository';
import { signedCommand, testDecision } from './signed-command';

type Row = Record<string, unknown>;
interface Event {
  id: string;
  type: string;
  causation_id: string;
  data: { result?: { output?: unknown; error?: { code: string } } };
}

jest.setTimeout(90_000);

/**
 * Batch mode: a burst already waiting in the stream when the service starts is taken in batches;
 * and batches handed to the handler directly prove what one batch does with mixed input.
 */
describe('workers in batch mode (real NATS + Postgres)', () => {
  let t: TestEnv;
  let app: INestApplication;
  let db: Client;
  let keys: SigningKeys;
  let ws: string;
  const otherKeys = loadSigningKeys(Buffer.alloc(32, 7).toString('base64'), undefined);

  const write = (p: string, content: string): Action => ({ tool: 'fs.write_file', args: { path: p, content } });
  const read = (p: string): Action => ({ tool: 'fs.read_file', args: { path: p } });
  const events = async (runId: string) => (await runEvents(t.bus, t.subjects, runId)) as unknown as Event[];
  const execution = async (runId: string) =>
    (await db.query('SELECT * FROM "workers".executions WHERE run_id = $1', [runId])).rows[0] as Row | undefined;
  const deadLetters = async () =>
    (await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLetter('workers', 'execute-dev'))).length;
  const dlqCodes = async () => {
    const stream = t.subjects.streams.deadLetters;
    const { first_seq, last_seq } = (await t.bus.jsm.streams.info(stream)).state;
    const codes: string[] = [];
    for (let seq = first_seq; seq > 0 && seq <= last_seq; seq++) {
      const m = await t.bus.jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (m?.subject === t.subjects.deadLetter('workers', 'execute-dev')) codes.push(m.header.get(Headers.dlqCode));
    }
    return codes.sort();
  };

  const executions = async (outcome: string): Promise<number> => {
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('warden_workers_executions_total{') && l.includes(`outcome="${outcome}"`))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  };

  // commands that wait in the stream before the service starts, so its consumer takes them in batches
  const valid: ExecuteCommand[] = [];
  const copies: ExecuteCommand[] = [];
  const seconds: ExecuteCommand[] = [];
  const invalid: { body: unknown; runId: string | null }[] = [];

  beforeAll(async () => {
    t = await createTestEnv();
    keys = signingKeysOf(testKeyring('orchestrator'), 'orchestrator');
    ws = mkdtempSync(path.join(tmpdir(), 'warden-workers-batch-'));
    writeFileSync(path.join(ws, 'shared.txt'), 'shared');

    for (let i = 0; i < 25; i++) valid.push(signedCommand(keys, write(`burst/w${i}.txt`, `first ${i}`)));
    for (let i = 0; i < 10; i++) valid.push(signedCommand(keys, read('shared.txt')));
    // redeliveries of the same command: one twice more, four once more
    copies.push(valid[0]!, valid[0]!, valid[1]!, valid[2]!, valid[3]!, valid[4]!);
    // other commands (new command_id) for runs that already have one
    for (const i of [5, 6, 7]) {
      seconds.push(signedCommand(keys, write(`burst/w${i}.txt`, `second ${i}`), { run_id: valid[i]!.run_id }));
    }
    for (let i = 0; i < 3; i++) {
      const runId = newId();
      invalid.push({ body: { run_id: runId, action: write(`bad/${i}.txt`, 'x') }, runId });
    }
    for (let i = 0; i < 2; i++) {
      const forged = signedCommand(otherKeys, write(`forged/${i}.txt`, 'x'));
      invalid.push({ body: forged, runId: forged.run_id });
    }
    const denied = signedCommand(keys, write('denied.txt', 'x'), { decision: testDecision({ outcome: 'deny' }) });
    invalid.push({ body: denied, runId: denied.run_id });
    invalid.push({ body: 'not json {', runId: null });

    // interleaved, in a fixed order: valid, invalid and duplicate side by side
    const order: unknown[] = [];
    valid.forEach((cmd, i) => {
      order.push(cmd);
      const second = seconds[i - 5];
      if (second) order.push(second);
      if (invalid[i]) order.push(invalid[i]!.body);
    });
    order.push(...copies);
    for (const body of order) {
      await t.bus.js.publish(t.subjects.workerExecute('dev'), typeof body === 'string' ? body : JSON.stringify(body));
    }

    const config = loadConfig({
      ...process.env,
      ...t.env,
      WORKERS_PORT: '0',
      WARDEN_WORKSPACE: ws,
      WORKER_ID: 'worker-batch-1',
      WORKER_ROLES: 'dev',
    });
    app = await startService(AppModule.forRoot(config), { service: 'workers', port: 0 });
    db = new Client({ connectionString: t.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await app?.close();
    await db?.end();
    await t?.cleanup();
    rmSync(ws, { recursive: true, force: true });
  });

  describe('a burst of valid, invalid and duplicate commands', () => {
    beforeAll(async () => {
      // every message settled: acked (executed or duplicate) or terminated (dead-lettered)
      await waitFor(
        async () => {
          const info = await t.bus.jsm.consumers.info(t.subjects.streams.commands, 'workers-execute-dev');
          return info.num_pending === 0 && info.num_ack_pending === 0;
        },
        'the burst to be settled',
        60_000,
        200,
      );
    });

    it('executes every valid run exactly once: two events each, ids from the claiming command', async () => {
      for (const cmd of valid) {
        const row = await execution(cmd.run_id);
        expect(row).toMatchObject({ status: 'succeeded', attempt: 1, worker_id: 'worker-batch-1' });
        const claimedBy = row!.command_id as string;
        const evs = (await events(cmd.run_id)).filter((e) => e.type !== 'command_refused');
        expect(evs.map((e) => e.type)).toEqual(['run_started', 'run_succeeded']);
        expect(evs.map((e) => e.id)).toEqual([
          deriveId(claimedBy, 'run_started'),
          deriveId(claimedBy, 'run_succeeded'),
        ]);
      }
      for (let i = 0; i < 25; i++) {
        if (i >= 5 && i <= 7) continue;
        expect(readFileSync(path.join(ws, `burst/w${i}.txt`), 'utf8')).toBe(`first ${i}`);
        expect((await execution(valid[i]!.run_id))!.command_id).toBe(valid[i]!.command_id);
      }
      for (const cmd of valid.slice(25)) {
        expect((await events(cmd.run_id))[1]!.data.result!.output).toEqual({ content: 'shared', bytes: 6 });
      }
    });

    it('runs only the command that claimed a run when another command for it arrives', async () => {
      for (const i of [5, 6, 7]) {
        const row = await execution(valid[i]!.run_id);
        const winner = row!.command_id === valid[i]!.command_id ? 'first' : 'second';
        expect(row!.command_id).toBe(winner === 'first' ? valid[i]!.command_id : seconds[i - 5]!.command_id);
        // the file holds exactly what the claiming command wrote: the other never ran after it
        expect(readFileSync(path.join(ws, `burst/w${i}.txt`), 'utf8')).toBe(`${winner} ${i}`);
      }
    });

    it('dead-letters and records each invalid command once, and announces it as command_refused only', async () => {
      expect((await dlqCodes()).filter((c) => c !== 'COMMAND.REPLAYED')).toEqual(
        [
          'COMMAND.FORGED',
          'COMMAND.FORGED',
          'COMMAND.NOT_PERMITTED',
          'VALIDATION.FAILED',
          'VALIDATION.FAILED',
          'VALIDATION.FAILED',
          'VALIDATION.FAILED',
        ].sort(),
      );
      const refusals = (
        await db.query(`SELECT * FROM "workers".refusals WHERE reason <> 'replayed' ORDER BY stream_seq`)
      ).rows as Row[];
      expect(refusals).toHaveLength(invalid.length);
      for (const { runId } of invalid) {
        if (!runId) continue;
        expect(refusals.filter((r) => r.run_id === runId)).toHaveLength(1);
        expect((await events(runId)).map((e) => e.type)).toEqual(['command_refused']);
        expect(await execution(runId)).toBeUndefined();
      }
      expect(refusals.filter((r) => r.run_id === null)).toMatchObject([
        { reason: 'invalid', code: 'VALIDATION.FAILED' },
      ]);
      expect(existsSync(path.join(ws, 'bad'))).toBe(false);
      expect(existsSync(path.join(ws, 'forged'))).toBe(false);
      expect(existsSync(path.join(ws, 'denied.txt'))).toBe(false);
    });

    it('publishes two run events per valid run and one command_refused per refusal, counting every message once', async () => {
      const all = await readAll(t.bus, t.subjects.streams.events, `${t.subjects.prefix}.events.run.>`);
      const refusedEvents = all.filter((m) => m.subject.endsWith('.command_refused'));
      expect(all.length - refusedEvents.length).toBe(valid.length * 2);
      // the copies and second commands are replays; every invalid one with a UUID run id is announced on its run
      const withRun = invalid.filter((i) => i.runId !== null).length;
      expect(refusedEvents).toHaveLength(copies.length + seconds.length + withRun);
      expect(await executions('succeeded')).toBe(valid.length);
      const port = (app.getHttpServer().address() as AddressInfo).port;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/warden_workers_refused_total\{[^}]*reason="forged"[^}]*\} 2/);
      expect(text).toMatch(/warden_workers_refused_total\{[^}]*reason="invalid"[^}]*\} 4/);
      expect(text).toMatch(
        new RegExp(`warden_workers_refused_total\\{[^}]*reason="replayed"[^}]*\\} ${copies.length + seconds.length}\n`),
      );
      expect(await deadLetters()).toBe(invalid.length + copies.length + seconds.length);
    });
  });

  describe('one batch handed to the handler', () => {
    let seq = 1_000_000;
    // a delivered message as the consumer would hand it over (a stream sequence no real message has)
    const delivered = (body: unknown): BusMessage =>
      new BusMessage({
        subject: t.subjects.workerExecute('dev'),
        seq: seq++,
        data: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
        info: { deliveryCount: 1 },
      } as unknown as JsMsg);
    const handle = (bodies: unknown[]) => app.get(ExecuteConsumer).handleBatch(bodies.map(delivered), 'dev');

    it('executes a run once when the same command and another command for its run share the batch', async () => {
      const a = signedCommand(keys, write('one/a.txt', 'a'));
      const b = signedCommand(keys, write('one/b.txt', 'b first'));
      const b2 = signedCommand(keys, write('one/b.txt', 'b second'), { run_id: b.run_id });
      const forged = signedCommand(otherKeys, write('one/forged.txt', 'x'));
      const [succeeded, duplicates] = [await executions('succeeded'), await executions('duplicate')];
      const msgs = [a, b, a, forged, b2, a].map(delivered);
      const outcomes = await app.get(ExecuteConsumer).handleBatch(msgs, 'dev');
      // the first message of a run executes; every other message for it is a replay
      expect(outcomes.map((o) => (o === undefined ? 'ok' : (o as DomainError).code))).toEqual([
        'ok',
        'ok',
        'COMMAND.REPLAYED',
        'COMMAND.FORGED',
        'COMMAND.REPLAYED',
        'COMMAND.REPLAYED',
      ]);
      // the first command of a run in the batch is the one that runs; the others never do
      expect(readFileSync(path.join(ws, 'one/b.txt'), 'utf8')).toBe('b first');
      expect(await execution(b.run_id)).toMatchObject({ command_id: b.command_id, attempt: 1 });
      for (const cmd of [a, b]) {
        const evs = (await events(cmd.run_id)).filter((e) => e.type !== 'command_refused');
        expect(evs.map((e) => e.id)).toEqual([
          deriveId(cmd.command_id, 'run_started'),
          deriveId(cmd.command_id, 'run_succeeded'),
        ]);
      }
      expect(existsSync(path.join(ws, 'one/forged.txt'))).toBe(false);
      // two tools ran
      expect(await executions('succeeded')).toBe(succeeded + 2);

      // a redelivery of the claiming messages: nothing runs, the same events are republished
      writeFileSync(path.join(ws, 'one/a.txt'), 'changed later');
      const again = await app.get(ExecuteConsumer).handleBatch([msgs[0]!, msgs[1]!], 'dev');
      expect(again).toEqual([undefined, undefined]);
      expect(await executions('duplicate')).toBe(duplicates + 2);
      // a new message with the same command: a replay
      expect((await handle([b]))[0]).toMatchObject({ code: 'COMMAND.REPLAYED' });
      expect(readFileSync(path.join(ws, 'one/a.txt'), 'utf8')).toBe('changed later');
      expect(readFileSync(path.join(ws, 'one/b.txt'), 'utf8')).toBe('b first');
      const types = (await events(a.run_id)).map((e) => e.type);
      expect(types.filter((x) => x !== 'command_refused')).toEqual(['run_started', 'run_succeeded']);
    });

    it('settles a run held by another worker as busy, and executes the rest of the batch', async () => {
      const held = signedCommand(keys, write('busy/held.txt', 'x'));
      const free = signedCommand(keys, write('busy/free.txt', 'y'));
      const holder = new Client({ connectionString: t.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`workers-run:${held.run_id}`]);
        const outcomes = await handle([held, free, held]);
        expect(outcomes[0]).toBeInstanceOf(RunBusyError);
        expect(outcomes[2]).toBeInstanceOf(RunBusyError);
        expect(outcomes[1]).toBeUndefined();
      } finally {
        await holder.query('COMMIT');
        await holder.end();
      }
      expect(existsSync(path.join(ws, 'busy/held.txt'))).toBe(false);
      expect(await execution(held.run_id)).toBeUndefined();
      expect(await events(held.run_id)).toEqual([]);
      expect(readFileSync(path.join(ws, 'busy/free.txt'), 'utf8')).toBe('y');
      // once the other worker is gone, the run executes
      expect(await handle([held])).toEqual([undefined]);
      expect(readFileSync(path.join(ws, 'busy/held.txt'), 'utf8')).toBe('x');
    });

    it('runs nothing whose run_started could not be published: its claim is given back, and the retry runs it once', async () => {
      const lost = signedCommand(keys, write('announce/lost.txt', 'x'));
      const fine = signedCommand(keys, write('announce/fine.txt', 'y'));
      const publisher = app.get<Publisher>(PUBLISHER);
      const real = publisher.publish.bind(publisher);
      // the broker refuses this one run's run_started (as when the events stream is unavailable)
      const spy = jest.spyOn(publisher, 'publish').mockImplementation((m) => {
        const env = m.payload as { type?: string; run_id?: string };
        return env.type === 'run_started' && env.run_id === lost.run_id
          ? Promise.reject(new TransientError('publish refused'))
          : real(m);
      });
      let outcomes: unknown[];
      try {
        outcomes = await handle([lost, fine]);
      } finally {
        spy.mockRestore();
      }
      expect(outcomes[0]).toBeInstanceOf(TransientError);
      expect(outcomes[1]).toBeUndefined();
      // nothing ran or stayed claimed for it (marked begun beside the publish or not)
      expect(existsSync(path.join(ws, 'announce/lost.txt'))).toBe(false);
      expect(await execution(lost.run_id)).toBeUndefined();
      expect(await events(lost.run_id)).toEqual([]);
      expect(readFileSync(path.join(ws, 'announce/fine.txt'), 'utf8')).toBe('y');
      // the redelivery is a clean first attempt: it runs once, announced first
      expect(await handle([lost])).toEqual([undefined]);
      expect(readFileSync(path.join(ws, 'announce/lost.txt'), 'utf8')).toBe('x');
      expect(await execution(lost.run_id)).toMatchObject({ status: 'succeeded', attempt: 1 });
      expect((await events(lost.run_id)).map((e) => e.type)).toEqual(['run_started', 'run_succeeded']);
    });

    it('fails only the run whose data Postgres cannot store, never its batch', async () => {
      // jsonb holds no \u0000: this claim's action cannot be recorded; this read's output is refused
      const nulWrite = signedCommand(keys, write('nul/w.txt', 'a\u0000b'));
      writeFileSync(path.join(ws, 'nul-inside.txt'), Buffer.from([0x61, 0x00, 0x62]));
      const nulRead = signedCommand(keys, read('nul-inside.txt'));
      const fine = signedCommand(keys, write('nul/fine.txt', 'fine'));
      const refused = signedCommand(otherKeys, write('nul/refused.txt', 'x'));
      const outcomes = await handle([nulWrite, fine, nulRead, refused]);

      // retried later (nak), not dead-lettered: the failure is about storage, not the command
      expect(outcomes[0]).toBeInstanceOf(Error);
      expect(outcomes[0]).not.toBeInstanceOf(DomainError);
      expect(outcomes[1]).toBeUndefined();
      expect(outcomes[2]).toBeUndefined();
      expect((outcomes[3] as DomainError).code).toBe('COMMAND.FORGED');

      // the unclaimable write never ran and announced nothing
      expect(existsSync(path.join(ws, 'nul/w.txt'))).toBe(false);
      expect(await execution(nulWrite.run_id)).toBeUndefined();
      expect(await events(nulWrite.run_id)).toEqual([]);
      // the read ran, and ends failed with advice rather than an output no store can hold
      expect((await events(nulRead.run_id)).map((e) => e.type)).toEqual(['run_started', 'run_failed']);
      expect(await execution(nulRead.run_id)).toMatchObject({
        status: 'failed',
        result: { error: { code: 'OUTPUT.UNREPRESENTABLE' } },
      });
      // its batch-mates are unaffected
      expect(readFileSync(path.join(ws, 'nul/fine.txt'), 'utf8')).toBe('fine');
      expect((await events(fine.run_id)).map((e) => e.type)).toEqual(['run_started', 'run_succeeded']);
      expect((await db.query('SELECT 1 FROM "workers".refusals WHERE run_id = $1', [refused.run_id])).rowCount).toBe(1);
    });

    it('settles an empty batch with nothing', async () => {
      expect(await app.get(ExecuteConsumer).handleBatch([], 'dev')).toEqual([]);
    });
  });
});
