import type { DataSource, EntityManager } from 'typeorm';
import { EventAuthenticity, installEventAuthenticity, makeEnvelope } from '@warden/bus';
import { newId, newTraceId } from '@warden/kernel';
import { createTestEnv, forgeAs, testKeyring, testPublisher, waitFor, type TestEnv } from '@warden/testing';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
import { openDataSource } from '../src/database';
import {
  CheckpointedProjection,
  type ApplyContext,
  type ProjectedEvent,
  type ProjectionHandler,
  type ProjectionSpec,
} from '../src/projection';
import { uuidArrayLiteral } from '../src/simple-transaction';

const SCHEMA = 'proj_test';

/** Records each run id it applies; fails (after writing, inside a nested transaction too) while `failures` > 0. */
class Recorder implements ProjectionHandler {
  failures = 0;
  attempts = 0;
  /** The event types of each batch applied, with when it was applied. */
  batches: { types: string[]; at: number }[] = [];
  async apply(events: ProjectedEvent[], em: EntityManager): Promise<void> {
    this.attempts++;
    this.batches.push({ types: events.map((e) => e.env.type), at: performance.now() });
    for (const { env } of events) await em.query(`INSERT INTO ${SCHEMA}.seen (run_id) VALUES ($1)`, [env.run_id]);
    // a nested transaction inside apply is a savepoint: it must not commit the batch early
    await em.transaction((inner) => inner.query(`INSERT INTO ${SCHEMA}.nested (n) VALUES ($1)`, [events.length]));
    if (this.failures > 0) {
      this.failures--;
      throw new Error('apply failed after writing');
    }
  }
  async reset(em: EntityManager): Promise<void> {
    await em.query(`DELETE FROM ${SCHEMA}.seen`);
    await em.query(`DELETE FROM ${SCHEMA}.nested`);
  }
}

describe('CheckpointedProjection on real NATS and Postgres', () => {
  let t: TestEnv;
  let ds: DataSource;
  beforeAll(async () => {
    t = await createTestEnv();
    installEventAuthenticity(new EventAuthenticity(testKeyring('orchestrator')));
    ds = await openDataSource({ url: t.databaseUrl, schema: SCHEMA, migrations: [] });
    await ds.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await ds.query(
      `CREATE TABLE ${SCHEMA}.projection_checkpoints (name text PRIMARY KEY, position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
    );
    await ds.query(`CREATE TABLE ${SCHEMA}.seen (run_id uuid NOT NULL)`);
    await ds.query(`CREATE TABLE ${SCHEMA}.nested (n int NOT NULL)`);
  });
  afterAll(async () => {
    await ds?.destroy();
    await t?.cleanup();
  });

  const publishRuns = async (n: number, reason = 'test'): Promise<string[]> => {
    const ids = Array.from({ length: n }, () => newId());
    for (const runId of ids)
      await testPublisher(t).publishEvent(
        makeEnvelope({
          type: 'run_cancelled',
          runId,
          producer: 'orchestrator',
          traceId: newTraceId(),
          data: { reason, by: 'test' },
        }),
      );
    return ids;
  };
  const projection = (name: string, handler: ProjectionHandler, extra: Partial<ProjectionSpec> = {}) =>
    new CheckpointedProjection(
      ds,
      t.bus,
      t.subjects,
      undefined,
      {
        name,
        schema: SCHEMA,
        service: 'test',
        stream: t.subjects.streams.events,
        filterSubject: t.subjects.runEvents,
        ...extra,
      },
      handler,
    );
  const count = async (table: string) => Number((await ds.query(`SELECT count(*) AS n FROM ${SCHEMA}.${table}`))[0].n);

  it('applies each event once with its checkpoint; a failed batch leaves no row (nested writes too) and is retried', async () => {
    const ids = await publishRuns(3);
    const handler = new Recorder();
    handler.failures = 1;
    const p = projection('recorder', handler);
    await p.start();
    try {
      await waitFor(async () => (await count('seen')) === 3 || undefined, 'the three events applied', 15_000);
      expect(handler.attempts).toBeGreaterThanOrEqual(2); // the first attempt failed after writing
      const seen: { run_id: string }[] = await ds.query(`SELECT run_id FROM ${SCHEMA}.seen ORDER BY run_id`);
      expect(seen.map((r) => r.run_id)).toEqual([...ids].sort());
      // the failed attempt's nested write was rolled back with it: one row per successful batch only
      const nested: { n: number }[] = await ds.query(`SELECT n FROM ${SCHEMA}.nested`);
      expect(nested.reduce((a, r) => a + r.n, 0)).toBe(3);
      expect(await p.position()).toBe(3);
      // the session was handed back clean: the pool's connections are outside any transaction
      const open: { n: string }[] = await ds.query(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
      );
      expect(Number(open[0]!.n)).toBe(0);
    } finally {
      await p.stop();
    }

    // a restart resumes after the checkpoint: nothing applied twice
    const again = new Recorder();
    const q = projection('recorder', again);
    await q.start();
    try {
      await publishRuns(1);
      await waitFor(async () => (await count('seen')) === 4 || undefined, 'the fourth event applied', 15_000);
      expect(await q.position()).toBe(4);
      expect(await count('seen')).toBe(4);
    } finally {
      await q.stop();
    }
  });

  it('two instances of one projection (replicas) never apply a batch twice', async () => {
    await ds.query(`DELETE FROM ${SCHEMA}.seen`);
    const a = projection('replicated', new Recorder());
    const b = projection('replicated', new Recorder());
    await Promise.all([a.start(), b.start()]);
    try {
      await publishRuns(20);
      const total = 4 + 20; // the stream holds the first test's four events too
      await waitFor(async () => (await a.position()) === total || undefined, 'both caught up', 20_000);
      const rows: { run_id: string; n: string }[] = await ds.query(
        `SELECT run_id, count(*) AS n FROM ${SCHEMA}.seen GROUP BY run_id HAVING count(*) > 1`,
      );
      expect(rows).toEqual([]);
      expect(await count('seen')).toBe(total);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('lingers over the types it may hold, and an event of any other type hands the held batch over at once', async () => {
    const handler = new Recorder();
    const p = projection('lingering', handler, { lingerMs: 1500, lingerTypes: ['run_queued'] });
    await p.start();
    await waitFor(async () => handler.batches.length > 0 || undefined, 'the backlog applied', 15_000);
    handler.batches.length = 0;
    try {
      const runId = newId();
      const queued = makeEnvelope({
        type: 'run_queued',
        runId,
        producer: 'orchestrator',
        traceId: newTraceId(),
        data: { role: 'dev', subject: 'x', action: { tool: 'fs.read_file', args: { path: 'a' } } },
      });
      // a held type alone waits for the linger
      const t0 = performance.now();
      await testPublisher(t).publishEvent(queued);
      await waitFor(async () => handler.batches.length === 1 || undefined, 'the lone held event', 10_000, 20);
      expect(handler.batches[0]!.types).toEqual(['run_queued']);
      expect(handler.batches[0]!.at - t0).toBeGreaterThanOrEqual(1400);
      // a held type followed by another type: both together, long before the linger is up
      const t1 = performance.now();
      await testPublisher(t).publishEvent({ ...queued, id: newId() });
      await publishRuns(1);
      await waitFor(async () => handler.batches.length === 2 || undefined, 'the urgent batch', 10_000, 20);
      expect(handler.batches[1]!.types).toEqual(['run_queued', 'run_cancelled']);
      expect(handler.batches[1]!.at - t1).toBeLessThan(1000);
    } finally {
      await p.stop();
    }
  });

  it('leaves out the events `relevant` says it has nothing to do with: no apply, no transaction; the checkpoint passes them', async () => {
    const publish = async (reason: string) => (await publishRuns(1, reason))[0]!;
    for (let i = 0; i < 5; i++) await publish('skip');
    const kept = await publish('keep');
    // a forgery that `relevant` keeps is still verified: refused (dead-lettered), never applied
    await testPublisher(t).publishEvent(
      forgeAs(
        makeEnvelope({
          type: 'run_cancelled',
          runId: newId(),
          producer: 'orchestrator',
          traceId: newTraceId(),
          data: { reason: 'keep', by: 'mallory' },
        }),
      ),
    );
    for (let i = 0; i < 5; i++) await publish('skip');
    const last = Number((await t.bus.jsm.streams.info(t.subjects.streams.events)).state.last_seq);
    const handler = new Recorder();
    const p = projection('relevant-only', handler, {
      maxBatch: 1, // every event its own batch: the left-out ones must cost no transaction each
      relevant: (body) => (body as { data?: { reason?: string } }).data?.reason === 'keep',
    });
    await ds.query(`DELETE FROM ${SCHEMA}.seen`);
    // every transaction (and every plain query) of the projection takes a query runner of its own
    const runners = jest.spyOn(ds, 'createQueryRunner');
    await p.start();
    try {
      await waitFor(() => handler.attempts === 1 || undefined, 'the kept event applied', 15_000);
      await sleep(300); // the left-out tail read too
      const seen: { run_id: string }[] = await ds.query(`SELECT run_id FROM ${SCHEMA}.seen`);
      expect(seen.map((r) => r.run_id)).toEqual([kept]);
      expect(handler.attempts).toBe(1);
    } finally {
      await p.stop();
    }
    // stop stores the position reached past the left-out tail
    expect(await p.position()).toBe(last);
    // `last` events, each its own batch, all but one left out: the runners taken are the checkpoint
    // row and read at start, the kept batch, the position stored now and then and at stop, and this
    // test's one read of `seen` — not one per left-out batch
    const taken = runners.mock.calls.length;
    runners.mockRestore();
    expect(taken).toBeLessThanOrEqual(8);
    expect(last).toBeGreaterThanOrEqual(11);
  });

  it('stores the position past left-out events within a second even when nothing follows them', async () => {
    const first = Number((await t.bus.jsm.streams.info(t.subjects.streams.events)).state.last_seq) + 1;
    await publishRuns(6, 'skip');
    const last = Number((await t.bus.jsm.streams.info(t.subjects.streams.events)).state.last_seq);
    const handler = new Recorder();
    const p = projection('relevant-quiet', handler, {
      maxBatch: 1,
      relevant: (body) => (body as { data?: { reason?: string } }).data?.reason === 'keep',
    });
    await ds.query(
      `INSERT INTO ${SCHEMA}.projection_checkpoints (name, position) VALUES ('relevant-quiet', $1)
       ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position`,
      [first - 1],
    );
    await p.start();
    try {
      // the first left-out batch is stored at once, the rest within a second though no batch follows
      // (a reader waiting on the checkpoint, as approvals' Slack notifier does, is not left waiting)
      await waitFor(async () => ((await p.position()) === last ? true : undefined), 'the position stored', 5_000);
      expect(handler.attempts).toBe(0);
    } finally {
      await p.stop();
    }
    expect(await p.position()).toBe(last);
  });

  it("reads a handler's preload in the round trip that opens the batch, inside its transaction: its rows reach apply", async () => {
    const ids = await publishRuns(3);
    await ds.query(`DELETE FROM ${SCHEMA}.seen`);
    await ds.query(`INSERT INTO ${SCHEMA}.seen (run_id) VALUES ($1)`, [ids[1]]);
    class Preloading extends Recorder {
      preloads: string[][] = [];
      received: (Record<string, unknown>[] | undefined)[] = [];
      preload(events: ProjectedEvent[]): string {
        const runIds = events.map((e) => e.env.run_id!);
        this.preloads.push(runIds);
        return `SELECT coalesce(array_agg(run_id::text ORDER BY run_id), '{}') AS known FROM ${SCHEMA}.seen WHERE run_id = ANY(${uuidArrayLiteral(runIds)})`;
      }
      override async apply(events: ProjectedEvent[], em: EntityManager, ctx?: ApplyContext): Promise<void> {
        this.received.push(ctx?.preloaded);
        return super.apply(events, em);
      }
    }
    const handler = new Preloading();
    const last = Number((await t.bus.jsm.streams.info(t.subjects.streams.events)).state.last_seq);
    // start at the first of the three: the checkpoint says everything before them is applied
    await ds.query(
      `INSERT INTO ${SCHEMA}.projection_checkpoints (name, position) VALUES ('preloading', $1) ON CONFLICT (name) DO UPDATE SET position = $1`,
      [last - 3],
    );
    const p = projection('preloading', handler, { lingerMs: 200 }); // the three in one batch
    await p.start();
    try {
      await waitFor(() => handler.attempts >= 1 || undefined, 'the batch applied', 15_000);
    } finally {
      await p.stop();
    }
    expect(handler.preloads).toEqual([ids]);
    // the statement ran in the batch's transaction: it saw the row inserted before, not the batch's own
    expect(handler.received).toEqual([[{ known: [ids[1]] }]]);
    expect(await p.position()).toBe(last);
  });
});
