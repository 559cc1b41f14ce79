import type { DataSource } from 'typeorm';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { openDataSource } from '../src/database';
import { FencedLease, FencedOutError, dutyMetrics, fencedLeaseTableSql } from '../src/fenced-lease';

const TABLE = '"fence_test".duty_leases';

describe('FencedLease on real Postgres', () => {
  let t: TestEnv;
  let ds: DataSource;
  let other: DataSource;
  beforeAll(async () => {
    t = await createTestEnv();
    ds = await openDataSource({ url: t.databaseUrl, schema: 'fence_test', migrations: [] });
    other = await openDataSource({ url: t.databaseUrl, schema: 'fence_test', migrations: [] });
    await ds.query('CREATE SCHEMA IF NOT EXISTS fence_test');
    await ds.query(fencedLeaseTableSql(TABLE));
  });
  afterAll(async () => {
    await ds?.destroy();
    await other?.destroy();
    await t?.cleanup();
  });

  const lease = (duty: string, holder: string, ttlMs = 60_000, on = ds) =>
    new FencedLease(on, { table: TABLE, duty, holder, ttlMs });
  const expire = (duty: string) =>
    ds.query(`UPDATE ${TABLE} SET expires_at = now() - interval '1 second' WHERE duty = $1`, [duty]);

  it('one holder at a time; a takeover after expiry gets a higher token and the old token is refused at the write', async () => {
    const a = lease('d1', 'a');
    const b = lease('d1', 'b');
    const ta = await a.acquire();
    expect(ta).toBe('1');
    expect(await a.acquire()).toBe('1'); // renewal keeps the token
    expect(await b.acquire()).toBeNull(); // a's lease runs
    await ds.transaction((em) => a.check(em, ta!)); // current: allowed

    await expire('d1');
    const tb = await b.acquire();
    expect(tb).toBe('2');
    expect(await a.acquire()).toBeNull(); // the deposed holder cannot renew

    const before = (await dutyMetrics.fenced.get()).values.find((v) => v.labels.duty === 'd1')?.value ?? 0;
    const err = await ds.transaction((em) => a.check(em, ta!)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedOutError);
    expect(err).toMatchObject({ code: 'LEASE.FENCED_OUT' });
    expect((err as Error).message).toBe('d1: fencing token 1 is stale (current 2); write refused');
    const after = (await dutyMetrics.fenced.get()).values.find((v) => v.labels.duty === 'd1')?.value ?? 0;
    expect(after).toBe(before + 1);
    await ds.transaction((em) => b.check(em, tb!));

    // released: the next holder need not wait, and tokens only grow
    await b.release();
    expect(await a.acquire()).toBe('3');
  });

  it('a write in flight under the current token finishes before a successor takes over; after that it is refused', async () => {
    const a = lease('d2', 'a');
    const b = lease('d2', 'b', 60_000, other);
    const ta = (await a.acquire())!;
    await expire('d2');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    const write = ds.transaction(async (em) => {
      await a.check(em, ta);
      order.push('a checked');
      await gate;
      order.push('a committed');
    });
    await new Promise((r) => setTimeout(r, 100));
    const takeover = b.acquire().then((tok) => {
      order.push(`b took token ${tok}`);
      return tok;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(order).toEqual(['a checked']); // b waits for a's write
    release();
    await write;
    expect(await takeover).toBe(String(Number(ta) + 1));
    expect(order).toEqual(['a checked', 'a committed', `b took token ${Number(ta) + 1}`]);
    await expect(ds.transaction((em) => a.check(em, ta))).rejects.toBeInstanceOf(FencedOutError);
  });

  it('a holder stalled inside its write transaction is cut off after the ttl, so it cannot hold a successor off', async () => {
    const a = lease('d3', 'a', 1000);
    const b = lease('d3', 'b', 1000, other);
    const ta = (await a.acquire())!;
    const qr = ds.createQueryRunner();
    await qr.connect();
    await qr.startTransaction();
    await a.check(qr.manager, ta); // then the holder "stops" (no further statement)
    await expire('d3');
    const started = Date.now();
    expect(await b.acquire()).toBe(String(Number(ta) + 1));
    expect(Date.now() - started).toBeLessThan(5000);
    // the stalled transaction was terminated by Postgres: its commit cannot happen
    await expect(qr.commitTransaction()).rejects.toThrow();
    await qr.release().catch(() => undefined);
  });
});
