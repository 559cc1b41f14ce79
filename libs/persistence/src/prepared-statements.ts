import { createHash } from 'node:crypto';
import { Client } from 'pg';

/** Distinct statements one process prepares at most (each is kept on every pooled connection). */
export const PREPARED_MAX = 256;
/** Statement texts counted at once while deciding which repeat. */
const SEEN_MAX = 1024;
/** A longer text is never prepared (ours are well under; a longer one carries data, not shape). */
const TEXT_MAX = 32_768;
/**
 * `SELECT *` / `RETURNING *` (also `t.*`): its result columns follow the table, and a prepared one
 * fails with "cached plan must not change result type" once a migration adds a column. Never prepared.
 */
const STAR = /\b(?:SELECT|RETURNING)\s+(?:DISTINCT\s+)?(?:[a-z_][a-z0-9_]*\.)?\*/i;

/**
 * Which parameterized statements go as named (server-side prepared) statements: a text the second time
 * it is seen, up to {@link PREPARED_MAX} texts. Postgres then parses and analyses it once per
 * connection instead of on every execution, and after five executions it may keep a generic plan, so
 * the hot statements (one batch's writes, a claim) stop being planned each time. Texts built per call
 * (a filter list, a row count) that do not repeat stay unnamed, and so does everything once the cap is
 * reached: the server never holds more than the cap per connection.
 * @example const names = new StatementNames(); names.nameFor(sql) // undefined, then 'warden_…'
 */
export class StatementNames {
  private readonly named = new Map<string, string>();
  private readonly seen = new Map<string, true>();
  /** Texts whose prepared plan went stale (see {@link forget}); bounded by the cap like `named`. */
  private readonly refused = new Set<string>();

  /** The name to prepare `text` under, or undefined to send it unnamed this time. */
  nameFor(text: string): string | undefined {
    const known = this.named.get(text);
    if (known) return known;
    if (this.refused.has(text)) return undefined;
    if (this.named.size >= PREPARED_MAX || text.length > TEXT_MAX || STAR.test(text)) return undefined;
    if (!this.seen.has(text)) {
      if (this.seen.size >= SEEN_MAX) this.seen.delete(this.seen.keys().next().value!);
      this.seen.set(text, true);
      return undefined;
    }
    this.seen.delete(text);
    // the name is the text's hash: one text, one name, on every connection of every replica
    const name = `warden_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    this.named.set(text, name);
    return name;
  }

  /**
   * Never prepares `text` again in this process: its result type changed under a prepared plan (a
   * migration altered a column it returns). The failed execution's caller retries, unnamed.
   */
  forget(text: string): void {
    this.named.delete(text);
    this.seen.delete(text);
    this.refused.add(text);
  }

  /** How many texts are prepared (for tests and metrics). */
  get size(): number {
    return this.named.size;
  }
}

/** SQLSTATE of "cached plan must not change result type". */
const STALE_PLAN = '0A000';

type QueryFn = (this: Client, config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * A `pg` Client class (for the pool's `Client` option) that sends the statements `names` picks as named
 * statements; everything else — text without parameters, multi-statement simple-protocol text, query
 * objects, streams — goes exactly as before. Results, errors (SQLSTATE codes) and transactions are the
 * driver's own.
 * @example new Pool({ Client: preparingClient(new StatementNames()) })
 */
export function preparingClient(names: StatementNames): typeof Client {
  const query = Client.prototype.query as unknown as QueryFn;
  class PreparingClient extends Client {}
  Object.defineProperty(PreparingClient.prototype, 'query', {
    configurable: true,
    writable: true,
    value: function (this: Client, config: unknown, values?: unknown, callback?: unknown): unknown {
      if (typeof config === 'string' && Array.isArray(values) && values.length > 0 && callback === undefined) {
        const name = names.nameFor(config);
        if (name) {
          return (query.call(this, { name, text: config, values }) as Promise<unknown>).catch((err: unknown) => {
            if ((err as { code?: unknown })?.code === STALE_PLAN) names.forget(config);
            throw err;
          });
        }
      }
      return query.call(this, config, values, callback);
    } satisfies QueryFn,
  });
  return PreparingClient;
}
