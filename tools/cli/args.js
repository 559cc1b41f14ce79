'use strict';
/** Argument parsing for the `warden` CLI: no dependencies, strict about unknown flags. */

class UsageError extends Error {}

/**
 * Splits argv into flags and positionals. `spec` maps a flag name (without `--`) to `'boolean'`
 * or `'string'`; `--flag=value` and `--flag value` both work; `--` ends flag parsing.
 * @example parseFlags(['a', '--wait'], { wait: 'boolean' }) // { flags: { wait: true }, positionals: ['a'] }
 */
function parseFlags(argv, spec) {
  const flags = {};
  const positionals = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const type = spec[name];
    if (!type) throw new UsageError(`unknown option --${name}`);
    if (type === 'boolean') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    }
    flags[name] = value;
  }
  return { flags, positionals };
}

/**
 * Turns `key=value` (a string) and `key:=json` (parsed JSON) arguments into an object.
 * @example parseAssignments(['path=a.md', 'force:=true']) // { path: 'a.md', force: true }
 */
function parseAssignments(items) {
  const out = {};
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
      throw new UsageError(`argument "${key}:=" is not valid JSON: ${err.message}`);
    }
  }
  return out;
}

/** A positive integer flag value, or a UsageError naming the flag. */
function positiveInt(value, name) {
  if (!/^[1-9][0-9]*$/.test(String(value))) throw new UsageError(`--${name} must be a positive integer`);
  return Number(value);
}

module.exports = { UsageError, parseFlags, parseAssignments, positiveInt };
