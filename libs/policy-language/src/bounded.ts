import { RE2JS } from 're2js';

/**
 * Bounded evaluation. The patterns and globs are the admin's, but the strings they are tested
 * against are the agent's: no test may take time that grows faster than the input. Regular
 * expressions run on RE2 (linear in the input, no backtracking; CEL's own semantics), globs on a
 * segment scan, and one decision has a time budget that fails closed when anything else runs long.
 */

/** Something a string can be tested against. */
export interface Matcher {
  test(s: string): boolean;
}

/** Longest regular expression accepted at evaluation time (a pattern computed from the input). */
export const MAX_DYNAMIC_PATTERN = 1000;

/** Thrown when a decision runs past its time budget: evaluation denies (fail closed). */
export class BudgetExceededError extends Error {
  constructor(readonly budgetMs: number) {
    super(`evaluation took longer than its ${budgetMs} ms budget`);
  }
}

let deadline = Infinity;
let budgetMs = 0;

/**
 * Runs `fn` (synchronous) with a time budget: {@link checkBudget}, called between rules and in every
 * function a condition calls, throws {@link BudgetExceededError} once `ms` have passed. Budgets nest;
 * the inner one never extends the outer.
 * @example withBudget(250, () => judge(policy, input))
 */
export function withBudget<T>(ms: number, fn: () => T): T {
  const outer = { deadline, budgetMs };
  const mine = performance.now() + ms;
  if (mine < deadline) {
    deadline = mine;
    budgetMs = ms;
  }
  try {
    return fn();
  } finally {
    deadline = outer.deadline;
    budgetMs = outer.budgetMs;
  }
}

/** Throws {@link BudgetExceededError} when the current budget is spent (a no-op outside {@link withBudget}). */
export function checkBudget(): void {
  if (deadline !== Infinity && performance.now() > deadline) throw new BudgetExceededError(budgetMs);
}

/**
 * Why RE2 refuses `source` (lookaround, backreferences, bad syntax, a repeat over 1000), or
 * undefined when it compiles.
 * @example re2Problem('(a)\\1') // 'invalid escape sequence: `\\1`'
 */
export function re2Problem(source: string): string | undefined {
  try {
    RE2JS.compile(source);
    return undefined;
  } catch (err) {
    return ((err as Error).message ?? String(err)).replace(/^error parsing regexp: /, '');
  }
}

/**
 * A regular expression with RE2 semantics, matching anywhere in the string (like CEL `matches`
 * and JavaScript's `test`). Throws with RE2's reason for a pattern it cannot compile.
 * @example compileRegex('^(a+)+$').test('a'.repeat(100000) + 'b') // false, in linear time
 */
export function compileRegex(source: string): Matcher {
  const re = RE2JS.compile(source);
  return {
    test: (s: string) => {
      checkBudget();
      return re.test(s);
    },
  };
}

/**
 * True when `s` matches `glob` (`*` is any run of characters, newlines included; everything else
 * is literal). Anchored prefix and suffix, the middle segments found leftmost in order: never
 * backtracks, so `*a*a*a*a*b` against a long run of `a` is as fast as any other glob.
 * @example globTest('fs.*', 'fs.read_file') // true
 */
export function globTest(glob: string, s: string): boolean {
  const parts = glob.split('*');
  if (parts.length === 1) return glob === s;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  const end = s.length - last.length;
  let pos = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (!part) continue;
    const at = s.indexOf(part, pos);
    if (at < 0 || at + part.length > end) return false;
    pos = at + part.length;
  }
  return true;
}

/** One matcher for a list of globs: exact names by set lookup, the rest by {@link globTest}. */
export function globsMatcher(globs: readonly string[]): Matcher {
  const exact = new Set(globs.filter((g) => !g.includes('*')));
  const wild = globs.filter((g) => g.includes('*'));
  return { test: (s: string) => exact.has(s) || wild.some((g) => globTest(g, s)) };
}
