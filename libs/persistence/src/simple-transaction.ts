import { escapeLiteral } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

/** The pg client under a TypeORM query runner: a multi-statement text query answers one result per statement. */
interface RawClient {
  query(text: string): Promise<{ rows: Record<string, unknown>[] }[] | { rows: Record<string, unknown>[] }>;
}

/** What a {@link simpleTransaction}'s work decides: its result, and statements to run just before `COMMIT`. */
export interface TransactionEnd<T> {
  result: T;
  /** Run with `COMMIT` in the same round trip (simple-protocol text; values must be escaped literals). */
  beforeCommit?: string;
}

/**
 * A transaction that costs no round trip of its own: `BEGIN` goes with `open` (the first statements,
 * whose results `work` gets, one per statement) and `COMMIT` with `beforeCommit`, each pair as one
 * simple-protocol query. Both are text with every value inlined, so a value may only get there
 * through {@link sqlLiteral}, {@link textArrayLiteral} or {@link uuidArrayLiteral}. TypeORM's runner
 * is told a transaction is open, so anything `work` does that would start one makes a savepoint. On
 * any failure the session is rolled back before it goes back to the pool.
 * @example await simpleTransaction(ds, `SELECT 1 AS one`, async (em, [first]) => ({ result: first.rows[0] }))
 */
export async function simpleTransaction<T>(
  ds: DataSource,
  open: string,
  work: (em: EntityManager, results: { rows: Record<string, unknown>[] }[]) => Promise<TransactionEnd<T>>,
): Promise<T> {
  const runner = ds.createQueryRunner();
  const client = (await runner.connect()) as RawClient;
  const held = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
  try {
    const answered = await client.query(`BEGIN; ${open}`);
    held.isTransactionActive = true;
    held.transactionDepth = 1;
    // one result per statement, the BEGIN's first
    const results = (Array.isArray(answered) ? answered : [answered]).slice(1);
    const end = await work(runner.manager, results);
    held.isTransactionActive = false;
    held.transactionDepth = 0;
    await client.query(end.beforeCommit ? `${end.beforeCommit}; COMMIT` : 'COMMIT');
    return end.result;
  } catch (err) {
    // whatever failed (the open, the work, the commit), the session is back outside a transaction
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    held.isTransactionActive = false;
    held.transactionDepth = 0;
    await runner.release();
  }
}

/** A string (or NULL) as an escaped SQL literal, for simple-protocol text. */
export function sqlLiteral(value: string | null): string {
  return value === null ? 'NULL' : escapeLiteral(value);
}

/** `ARRAY[…]::<type>[]` of escaped literals (NULL for null), for simple-protocol text. */
export function textArrayLiteral(values: readonly (string | null)[], type: string): string {
  if (!/^[a-z ]+$/.test(type)) throw new Error(`not a type name: ${type}`);
  return `ARRAY[${values.map(sqlLiteral).join(', ')}]::${type}[]`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `ARRAY['…', …]::uuid[]` for inlining in a simple-protocol statement; throws on anything that is not
 * exactly a UUID, so nothing else can ever reach the SQL text.
 * @example uuidArrayLiteral(['0b6f…']) // "ARRAY['0b6f…']::uuid[]"
 */
export function uuidArrayLiteral(ids: readonly string[]): string {
  for (const id of ids) if (!UUID.test(id)) throw new Error(`not a uuid: ${JSON.stringify(id.slice(0, 100))}`);
  return `ARRAY[${ids.map((id) => `'${id.toLowerCase()}'`).join(', ')}]::uuid[]`;
}
