import { UsageError } from './errors';

/**
 * Turns `key=value` (a string) and `key:=json` (parsed JSON) arguments into an object.
 * @example parseAssignments(['path=a.md', 'force:=true']) // { path: 'a.md', force: true }
 */
export function parseAssignments(items: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`argument "${item}" is not key=value or key:=json`);
    const isJson = item[eq - 1] === ':';
    const key = item.slice(0, isJson ? eq - 1 : eq);
    if (!key) throw new UsageError(`argument "${item}" has an empty key`);
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new UsageError(`argument "${key}" given twice`);
    const raw = item.slice(eq + 1);
    if (!isJson) {
      out[key] = raw;
      continue;
    }
    try {
      out[key] = JSON.parse(raw);
    } catch (err) {
      throw new UsageError(`argument "${key}:=" is not valid JSON: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * A positive integer option value, or a UsageError naming the option.
 * @example positiveInt('5', 'limit') // 5
 */
export function positiveInt(value: string, name: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`--${name} must be a positive integer`);
  return Number(value);
}

/**
 * A whole number of seconds (0 allowed) or undefined when the option was not given.
 * @example wholeSeconds('600', 'grace') // 600
 */
export function wholeSeconds(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a whole number of seconds`);
  return n;
}

/**
 * `24h`, `30m`, `7d`, `90s` before `now`, or an ISO time as it is (normalised).
 * @example sinceTime('24h', Date.parse('2026-01-02T00:00:00Z')) // '2026-01-01T00:00:00.000Z'
 */
export function sinceTime(value: string, now = Date.now()): string {
  const m = /^(\d+)([smhd])$/.exec(value);
  if (m) {
    const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  if (Number.isNaN(Date.parse(value))) throw new UsageError('--since must be like 24h, 30m, 7d or an ISO time');
  return new Date(value).toISOString();
}

/** Exactly one positional argument, or a UsageError naming what was expected. */
export function one(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1 || positionals[0] === undefined) throw new UsageError(`needs exactly one ${what}`);
  return positionals[0];
}
