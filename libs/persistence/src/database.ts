import { Client } from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { StatementNames, preparingClient } from './prepared-statements';

/** Options for a service's DataSource: it owns exactly one Postgres schema. */
export interface ServiceDataSourceOptions {
  url: string;
  /** The service's own schema, e.g. `orchestrator`. */
  schema: string;
  /** As TypeORM takes them (classes, schemas or globs). */
  entities?: DataSourceOptions['entities'];
  migrations?: DataSourceOptions['migrations'];
  poolSize?: number;
  /**
   * Send repeated parameterized statements as named (prepared) statements (see {@link StatementNames}).
   * Default true; turn off behind a pooler that cannot keep them (PgBouncer in transaction mode before
   * 1.21, or without `max_prepared_statements`).
   */
  preparedStatements?: boolean;
}

/**
 * Creates the database named in `url` if it does not exist (connecting to the `postgres` database).
 * Safe when several processes race to create it.
 * @example await ensureDatabase('postgres://postgres@127.0.0.1:5432/warden')
 */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err; // created concurrently
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * A TypeORM DataSource on the service's schema, with migrations run at start (never `synchronize`).
 * @example const ds = await openDataSource({ url, schema: 'policy', entities, migrations })
 */
export async function openDataSource(opts: ServiceDataSourceOptions): Promise<DataSource> {
  await ensureDatabase(opts.url);
  const ds = new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    entities: opts.entities ?? [],
    migrations: opts.migrations ?? [],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    extra: {
      max: opts.poolSize ?? 10,
      application_name: `warden-${opts.schema}`,
      ...(opts.preparedStatements === false ? {} : { Client: preparingClient(new StatementNames()) }),
    },
  });
  await ds.initialize();
  // the migrations table lives in the service's schema, so the schema must exist first
  await ds.query(`CREATE SCHEMA IF NOT EXISTS "${opts.schema}"`).catch((err: { code?: string }) => {
    if (err.code !== '23505' && err.code !== '42P06') throw err;
  });
  await runMigrationsLocked(ds, opts.schema);
  return ds;
}

/** Runs pending migrations under an advisory lock so replicas starting together do not collide. */
async function runMigrationsLocked(ds: DataSource, schema: string): Promise<void> {
  const qr = ds.createQueryRunner();
  await qr.connect();
  try {
    await qr.query('SELECT pg_advisory_lock(hashtext($1))', [`warden-migrations-${schema}`]);
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await qr.query('SELECT pg_advisory_unlock(hashtext($1))', [`warden-migrations-${schema}`]).catch(() => undefined);
    await qr.release();
  }
}

/** SQL that creates the checkpoint table every projection uses; call from a service's first migration. */
export function checkpointTableSql(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS "${schema}".projection_checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
  )`;
}
