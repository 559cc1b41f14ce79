import type { DataSource, QueryRunner } from 'typeorm';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { openDataSource } from '../src/database';
import { simpleTransaction } from '../src/simple-transaction';

const SCHEMA = 'prep_test';

describe('prepared statements on real Postgres', () => {
  let t: TestEnv;
  let ds: DataSource;
  let plain: DataSource;
  beforeAll(async () => {
    t = await createTestEnv();
    ds = await openDataSource({ url: t.databaseUrl, schema: SCHEMA, migrations: [], poolSize: 2 });
    plain = await openDataSource({
      url: t.databaseUrl,
      schema: SCHEMA,
      migrations: [],
      poolSize: 2,
      preparedStatements: false,
    });
    await ds.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await ds.query(`CREATE TABLE ${SCHEMA}.items (id int PRIMARY KEY, label text NOT NULL, n int NOT NULL DEFAULT 0)`);
  });
  afterAll(async () => {
    await ds?.destroy();
    await plain?.destroy();
    await t?.cleanup();
  });

  /** The statements prepared on the runner's own connection. */
  const prepared = async (qr: QueryRunner): Promise<string[]> =>
    (
      (await qr.query(`SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`)) as { statement: string }[]
    ).map((r) => r.statement);

  it('prepares a statement the second time it runs on a connection, with the same results, errors and transactions', async () => {
    const qr = ds.createQueryRunner();
    await qr.connect();
    try {
      const insert = `INSERT INTO ${SCHEMA}.items (id, label) VALUES ($1, $2) RETURNING id, label`;
      expect(await qr.query(insert, [1, 'one'])).toEqual([{ id: 1, label: 'one' }]);
      expect(await prepared(qr)).toEqual([]);
      expect(await qr.query(insert, [2, 'two'])).toEqual([{ id: 2, label: 'two' }]);
      expect(await prepared(qr)).toEqual([insert]);
      expect(await qr.query(insert, [3, 'three'])).toEqual([{ id: 3, label: 'three' }]);
      expect(await prepared(qr)).toEqual([insert]); // once per connection
      // a constraint violation keeps its SQLSTATE (callers decide on it)
      await expect(qr.query(insert, [1, 'again'])).rejects.toMatchObject({ code: '23505' });
      // inside a transaction that rolls back, a prepared statement's write goes with it
      await qr.startTransaction();
      await qr.query(insert, [4, 'four']);
      await qr.rollbackTransaction();
      expect(await qr.query(`SELECT label FROM ${SCHEMA}.items WHERE id = $1`, [4])).toEqual([]);
    } finally {
      await qr.release();
    }
    // the batch transactions (simple protocol text, no parameters) are left as they were
    await simpleTransaction(ds, `SELECT 1 AS one`, async (em) => {
      await em.query(`UPDATE ${SCHEMA}.items SET n = n + $2 WHERE id = $1`, [1, 1]);
      await em.query(`UPDATE ${SCHEMA}.items SET n = n + $2 WHERE id = $1`, [1, 1]);
      return { result: undefined };
    });
    expect(await ds.query(`SELECT n FROM ${SCHEMA}.items WHERE id = 1`)).toEqual([{ n: 2 }]);
  });

  it('a statement first prepared inside a transaction that rolls back stays prepared, and works', async () => {
    const qr = ds.createQueryRunner();
    await qr.connect();
    try {
      const sql = `SELECT label FROM ${SCHEMA}.items WHERE id = $1 AND n >= $2`;
      await qr.startTransaction();
      await qr.query(sql, [2, 0]);
      await qr.query(sql, [2, 0]); // prepared here, in the transaction
      await qr.rollbackTransaction();
      expect(await prepared(qr)).toContain(sql);
      expect(await qr.query(sql, [2, 0])).toEqual([{ label: 'two' }]);
      // a statement that fails in an aborted transaction is not taken as prepared
      const late = `SELECT label FROM ${SCHEMA}.items WHERE id = $1 OR id = $2 ORDER BY id`;
      await qr.query(late, [1, 2]);
      await qr.startTransaction();
      await expect(qr.query('SELECT 1 / 0')).rejects.toThrow(/division by zero/);
      await expect(qr.query(late, [1, 2])).rejects.toThrow(/current transaction is aborted/);
      await qr.rollbackTransaction();
      expect(await qr.query(late, [1, 3])).toEqual([{ label: 'one' }, { label: 'three' }]);
      expect(await prepared(qr)).toContain(late);
    } finally {
      await qr.release();
    }
  });

  it('never prepares a select of *, and prepares nothing when turned off', async () => {
    for (const [source, sql] of [
      [ds, `SELECT * FROM ${SCHEMA}.items WHERE id = $1`],
      [plain, `SELECT label FROM ${SCHEMA}.items WHERE id = $1`],
    ] as const) {
      const qr = source.createQueryRunner();
      await qr.connect();
      try {
        for (let i = 0; i < 3; i++) await qr.query(sql, [1]);
        expect(await prepared(qr)).not.toContain(sql);
      } finally {
        await qr.release();
      }
    }
  });

  it('a plan gone stale under a migration fails once; the statement then goes unnamed and works', async () => {
    await ds.query(`CREATE TABLE ${SCHEMA}.staled (id int PRIMARY KEY, v int NOT NULL)`);
    await ds.query(`INSERT INTO ${SCHEMA}.staled VALUES (1, 10)`);
    const qr = ds.createQueryRunner();
    await qr.connect();
    try {
      const sql = `SELECT id, v FROM ${SCHEMA}.staled WHERE id = $1`;
      await qr.query(sql, [1]);
      await qr.query(sql, [1]);
      expect(await prepared(qr)).toContain(sql);
      // another replica's migration changes a returned column's type
      await plain.query(`ALTER TABLE ${SCHEMA}.staled ALTER COLUMN v TYPE bigint`);
      await expect(qr.query(sql, [1])).rejects.toMatchObject({ code: '0A000' });
      expect(await qr.query(sql, [1])).toEqual([{ id: 1, v: '10' }]); // bigint comes back as text
    } finally {
      await qr.release();
    }
  });
});
