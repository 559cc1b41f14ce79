import { executableIssues } from '@warden/contracts';
import type { LoadedBundle, PolicyTestCase } from './bundle';
import { emptySession, evaluate, type PolicyInput, type Verdict } from './evaluate';

/** One policy test's result. */
export interface PolicyTestResult {
  name: string;
  passed: boolean;
  /** What differed, e.g. `outcome: expected deny, got allow`. */
  failures: string[];
  verdict: Verdict;
}

const TEST_TIME = new Date('2026-01-01T00:00:00.000Z');

/** The evaluated input a bundle test case describes. */
export function testInput(c: PolicyTestCase): PolicyInput {
  const i = c.input;
  return {
    agent: { id: i.agent.id, role: i.agent.role },
    session_id: i.session_id ?? null,
    action: { tool: i.tool, args: i.args as Record<string, unknown> },
    usage: i.usage ?? null,
    session_usage: i.session_id ? { ...emptySession(), ...(i.session ?? {}) } : null,
    agent_usage: i.agent_usage ?? null,
    rate: i.rate_limited ? { limit_id: i.rate_limited, limited: true } : null,
    failures: i.failures,
    ...(i.repeats ? { repeats: i.repeats } : {}),
    standing: i.standing,
  };
}

/**
 * Why the workers could not execute what a verdict rewrote the proposal to (empty: they could, or
 * nothing was rewritten): the tool must exist, the proposing agent's role must have it, and the args
 * must fit the tool's schema in `libs/contracts` (names and types; a required field the proposal
 * itself lacks is the test input's gap, not the recipe's).
 * @example rewriteFailures(verdict, 'outreach', { to: 'a@example.com' }) // ['rewrite email.draft: tool: ...']
 */
export function rewriteFailures(verdict: Verdict, role: string, proposedArgs: Record<string, unknown>): string[] {
  const rewritten = verdict.rewritten_action;
  if (verdict.outcome !== 'compute' || !rewritten) return [];
  return executableIssues(role, rewritten, proposedArgs).map(
    (i) => `rewrite ${rewritten.tool}: ${i.path}: ${i.message} (no worker could execute it)`,
  );
}

/**
 * Runs the bundle's own `tests:` (like `opa test`): each input is evaluated and compared with its
 * expected outcome, and tier, rule_ids, rewritten tool, mode and review where given. Every rewrite a
 * compute rule makes must also be executable by the workers ({@link rewriteFailures}).
 * @example const failed = runPolicyTests(parseBundle(text)).filter((r) => !r.passed)
 */
export function runPolicyTests(policy: LoadedBundle, cases = policy.bundle.tests): PolicyTestResult[] {
  return cases.map((c) => {
    const verdict = evaluate(policy, testInput(c), TEST_TIME);
    const failures: string[] = [];
    const want = c.expect;
    const check = (what: string, expected: unknown, got: unknown) => {
      if (expected !== undefined && JSON.stringify(expected) !== JSON.stringify(got))
        failures.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
    };
    check('outcome', want.outcome, verdict.outcome);
    check('tier', want.tier, verdict.tier);
    check('rule_ids', want.rule_ids, verdict.rule_ids);
    check('rewritten tool', want.rewritten_tool, verdict.rewritten_action?.tool);
    check('mode', want.mode, verdict.mode);
    check('review', want.review, verdict.review ?? false);
    failures.push(...rewriteFailures(verdict, c.input.agent.role, c.input.args as Record<string, unknown>));
    return { name: c.name, passed: failures.length === 0, failures, verdict };
  });
}

/**
 * The bundle's test cases whose compute rewrite no worker could execute, as field errors
 * (`tests.3: rewrite deploy.canary: args.percent: unknown field …`): a bundle with any is refused on
 * push, so it is never activated.
 */
export function unexecutableRewrites(policy: LoadedBundle): { path: string; message: string }[] {
  return policy.bundle.tests.flatMap((c, i) => {
    const verdict = evaluate(policy, testInput(c), TEST_TIME);
    return rewriteFailures(verdict, c.input.agent.role, c.input.args as Record<string, unknown>).map((message) => ({
      path: `tests.${i}`,
      message: `${c.name}: ${message}`,
    }));
  });
}
