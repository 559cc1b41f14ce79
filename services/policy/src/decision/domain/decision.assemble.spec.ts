import { randomBytes } from 'node:crypto';
import { decisionSigningPayload, type TaskSubmission } from '@warden/contracts';
import { canonicalJson, deriveId, loadSigningKeys, sha256Hex, verifyCanonical } from '@warden/kernel';
import {
  emptySession,
  parseBundle,
  policyInput,
  type PolicyInput,
  type PolicyState,
  type SessionState,
} from '@warden/policy-language';
import { assembleDecision, type ReceivedTask } from './decision.assemble';

const keys = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
const NOW = new Date('2026-11-21T10:00:00.000Z');
const RUN = '0b0e8c7a-5d43-4a8e-9a57-2f6a3e1c9d11';
const RECEIVED_ID = '5f0c2a51-6c1e-4f43-8d7a-0d6c3c9f8e21';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** Every branch the assembly reaches: rules of each outcome, budgets, a rate limit, loops, a rewrite. */
const policy = parseBundle(`
version: 'assemble-test.1'
mode: enforce
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
budgets:
  session: { max_calls: 10, escalate_at: 0.8, on_exceed: deny, tier: 2 }
  agent: { max_cost_usd: 1, escalate_at: 0.8, on_exceed: deny, tier: 2 }
rate_limits:
  - { id: writes, tools: [fs.write_file], capacity: 2, per: 1m, outcome: deny }
loops: { max_failures: 3, tier: 2, max_repeats: 5, escalate_repeats: 8 }
roles:
  dev: { tools: [fs.*, git.*, secrets.*] }
rules:
  - { id: read, tools: [fs.read_file], outcome: allow, reason: reading is fine }
  - { id: write, tools: [fs.write_file], outcome: allow, reason: writing is fine }
  - { id: secrets, tools: [secrets.*], outcome: deny, reason: agents never touch secrets }
  - id: push
    tools: [git.push]
    outcome: escalate
    tier: 3
    required_votes: 2
    expires_in: 4h
    reason: pushing needs two approvers
  - id: lease
    tools: [git.push]
    if: has(args.force) && args.force == true
    outcome: compute
    compute: { recipe: force_with_lease }
    reason: a force push may only overwrite what the agent has seen
  - id: leased-push
    tools: [git.push]
    if: has(args.force_with_lease) && args.force_with_lease == true
    outcome: allow
    reason: leased pushes are fine
`);

/** Observe mode, a rewrite nothing allows, a condition that fails at run time. */
const strict = parseBundle(`
version: 'assemble-test.observe'
mode: observe
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
roles:
  dev: { tools: [fs.*, git.*, secrets.*] }
rules:
  - { id: secrets, tools: [secrets.*], outcome: deny, reason: agents never touch secrets }
  - id: lease
    tools: [git.push]
    if: has(args.force) && args.force == true
    outcome: compute
    compute: { recipe: force_with_lease }
    reason: a force push may only overwrite what the agent has seen
  - { id: broken, tools: [fs.read_file], if: args.missing == "x", outcome: allow, reason: never reached }
`);

type Submission = Pick<TaskSubmission, 'agent' | 'action'> & Partial<TaskSubmission>;

/** A task_received for this submission (run RUN, the fixed event id and trace). */
function task(s: Partial<Submission> = {}): ReceivedTask {
  return {
    id: RECEIVED_ID,
    trace_id: TRACE,
    data: {
      submission: {
        agent: { id: 'agent-7', role: 'dev' },
        action: { tool: 'fs.read_file', args: { path: 'notes/a.md' } },
        ...s,
        run_id: RUN,
      },
      channel: 'bus',
    },
  };
}

/** What the task is judged on, given the state read for it (paths resolved to themselves). */
function inputFor(
  received: ReceivedTask,
  state: Partial<Omit<PolicyState, 'session'> & { session: Partial<SessionState> | null }> = {},
): PolicyInput {
  const input = policyInput(received.data.submission, state);
  const path = received.data.submission.action.args.path;
  return typeof path === 'string' ? { ...input, paths: { [path]: { real: path } } } : input;
}

function assemble(received: ReceivedTask, input = inputFor(received)) {
  return assembleDecision(policy, received, input, NOW, keys);
}

const session = (calls: number): Partial<SessionState> => ({ ...emptySession(), calls });

describe('assembleDecision', () => {
  describe('given a read the bundle allows', () => {
    const received = task();
    const { decision, events } = assemble(received);

    it('then it allows at tier 1 with the rule, its reason, the bundle and the run’s trace', () => {
      expect(decision).toMatchObject({
        outcome: 'allow',
        tier: 1,
        mode: 'enforce',
        rule_ids: ['read'],
        reasons: ['reading is fine'],
        policy_version: 'assemble-test.1',
        policy_digest: policy.digest,
        evaluated_at: NOW.toISOString(),
        trace_id: TRACE,
      });
    });

    it('then the constraints record the path as it was resolved', () => {
      expect(decision.constraints).toEqual({ resolved_paths: { 'notes/a.md': 'notes/a.md' } });
    });

    it('then input_hash is the sha256 of the canonical input', () => {
      expect(decision.input_hash).toBe(sha256Hex(canonicalJson(inputFor(received))));
    });

    it('then the signature verifies over (run, proposed action, decision) with the policy key', () => {
      const { signature, ...unsigned } = decision;
      expect(
        verifyCanonical(keys, decisionSigningPayload(RUN, received.data.submission.action, unsigned), signature!),
      ).toBe(true);
    });

    it('then it emits exactly one decision_made whose id derives from the task_received id', () => {
      expect(events).toEqual([{ type: 'decision_made', id: deriveId(RECEIVED_ID, 'decision_made'), data: decision }]);
    });

    it('then the decision’s keys come in the order they are published (verdict, trace_id, signature)', () => {
      const keys = Object.keys(decision);
      expect(keys.slice(-2)).toEqual(['trace_id', 'signature']);
      expect(keys.indexOf('input_hash')).toBeLessThan(keys.indexOf('outcome'));
    });
  });

  describe('given the same task and input twice (a redelivery)', () => {
    it('then the decision and its events are the same bytes', () => {
      const received = task({ session_id: 's-1' });
      const input = inputFor(received, { session: session(3) });
      expect(JSON.stringify(assemble(received, input))).toBe(JSON.stringify(assemble(received, input)));
    });
  });

  describe('given a state that differs only in what was counted before', () => {
    it('then input_hash (and so the signature) differs', () => {
      const received = task({ session_id: 's-1' });
      const a = assemble(received, inputFor(received, { session: session(1) })).decision;
      const b = assemble(received, inputFor(received, { session: session(2) })).decision;
      expect(a.input_hash).not.toBe(b.input_hash);
      expect(a.signature).not.toBe(b.signature);
    });
  });

  describe('given a tool a deny rule names', () => {
    it('then it denies with that rule and no other event', () => {
      const { decision, events } = assemble(task({ action: { tool: 'secrets.read', args: { name: 'db' } } }));
      expect(decision).toMatchObject({
        outcome: 'deny',
        rule_ids: ['secrets'],
        reasons: ['agents never touch secrets'],
      });
      expect(events.map((e) => e.type)).toEqual(['decision_made']);
    });
  });

  describe('given a tool no rule names', () => {
    it('then it denies default-deny', () => {
      const { decision } = assemble(task({ action: { tool: 'fs.delete', args: {} } }));
      expect(decision).toMatchObject({ outcome: 'deny', tier: 1, rule_ids: ['default-deny'] });
    });
  });

  describe('given a role that does not list the tool', () => {
    it('then it denies role-tools', () => {
      const { decision } = assemble(task({ agent: { id: 'agent-7', role: 'research' } }));
      expect(decision).toMatchObject({ outcome: 'deny', rule_ids: ['role-tools'] });
    });
  });

  describe('given an escalation rule', () => {
    it('then it escalates at the rule’s tier with its votes and expiry as constraints', () => {
      const { decision, events } = assemble(
        task({ action: { tool: 'git.push', args: { remote: 'origin', branch: 'x' } } }),
      );
      expect(decision).toMatchObject({
        outcome: 'escalate',
        tier: 3,
        rule_ids: ['push'],
        reasons: ['pushing needs two approvers'],
        constraints: { required_votes: 2, expires_in_seconds: 4 * 3600 },
      });
      expect(events).toHaveLength(1);
    });
  });

  describe('given a compute rule whose rewrite the bundle allows', () => {
    const received = task({ action: { tool: 'git.push', args: { remote: 'origin', branch: 'x', force: true } } });
    const { decision } = assemble(received);

    it('then it computes, naming the rewritten action, while the signature covers the proposed one', () => {
      expect(decision).toMatchObject({
        outcome: 'compute',
        tier: 1,
        rule_ids: ['lease', 'leased-push'],
        reasons: [
          'a force push may only overwrite what the agent has seen',
          'rewritten: git.push --force → git.push --force-with-lease',
        ],
      });
      expect(decision.rewritten_action).toEqual({
        tool: 'git.push',
        args: { remote: 'origin', branch: 'x', force_with_lease: true },
      });
      const { signature, ...unsigned } = decision;
      expect(
        verifyCanonical(keys, decisionSigningPayload(RUN, received.data.submission.action, unsigned), signature!),
      ).toBe(true);
    });
  });

  describe('given a session budget of 10 calls (escalate at 80 %, deny past it)', () => {
    const received = task({ session_id: 's-1' });
    const judged = (before: number) => assemble(received, inputFor(received, { session: session(before) }));

    it('when the call is the 7th (70 %) then the rule’s allow stands', () => {
      expect(judged(6).decision).toMatchObject({ outcome: 'allow', rule_ids: ['read'] });
    });

    it('when the call is the 8th (80 %) then it escalates at the budget’s tier, and no budget_exceeded', () => {
      const { decision, events } = judged(7);
      expect(decision).toMatchObject({
        outcome: 'escalate',
        tier: 2,
        rule_ids: ['read', 'session-budget'],
        reasons: ['reading is fine', 'session at 80% of its max_calls budget (8 of 10; escalates from 80%)'],
        constraints: { required_votes: 1, resolved_paths: { 'notes/a.md': 'notes/a.md' } },
      });
      expect(events.map((e) => e.type)).toEqual(['decision_made']);
    });

    it('when the call is the 10th (100 %, at the limit, not past it) then it still escalates and nothing is exceeded', () => {
      const { decision, events } = judged(9);
      expect(decision.outcome).toBe('escalate');
      expect(events).toHaveLength(1);
    });

    it('when the call is the 11th then it denies and emits budget_exceeded (session scope) with a derived id', () => {
      const { decision, events } = judged(10);
      expect(decision).toMatchObject({
        outcome: 'deny',
        tier: 1,
        rule_ids: ['read', 'session-budget'],
        reasons: ['reading is fine', 'session over its max_calls budget (11 of 10)'],
      });
      expect(events).toEqual([
        { type: 'decision_made', id: deriveId(RECEIVED_ID, 'decision_made'), data: decision },
        {
          type: 'budget_exceeded',
          id: deriveId(RECEIVED_ID, 'budget_exceeded', 'max_calls'),
          data: { scope: 'session', session_id: 's-1', agent_id: 'agent-7', budget: 'max_calls', used: 11, limit: 10 },
        },
      ]);
    });

    it('when the session was already over before this call then it denies but emits no second budget_exceeded', () => {
      const { decision, events } = judged(11);
      expect(decision.outcome).toBe('deny');
      expect(events.map((e) => e.type)).toEqual(['decision_made']);
    });
  });

  describe('given an agent budget of 1 USD', () => {
    it('when this call takes the agent past it then budget_exceeded has agent scope, no session id, and an agent: id', () => {
      const received = task({ usage: { cost_usd: 0.3 } });
      const input = inputFor(received, { agent: { calls: 4, tokens: 0, cost_usd: 0.9 } });
      const { decision, events } = assemble(received, input);
      expect(decision).toMatchObject({
        outcome: 'deny',
        rule_ids: ['read', 'agent-budget'],
        reasons: ['reading is fine', 'agent over its max_cost_usd budget (1.2 of 1)'],
      });
      expect(events[1]).toEqual({
        type: 'budget_exceeded',
        id: deriveId(RECEIVED_ID, 'budget_exceeded', 'agent:max_cost_usd'),
        data: { scope: 'agent', agent_id: 'agent-7', budget: 'max_cost_usd', used: expect.closeTo(1.2), limit: 1 },
      });
    });
  });

  describe('given the rate limit answered', () => {
    const received = task({ action: { tool: 'fs.write_file', args: { path: 'notes/b.md', content: 'x' } } });

    it('when the bucket had a token then the write is allowed', () => {
      const { decision } = assemble(received, inputFor(received, { rate: { limit_id: 'writes', limited: false } }));
      expect(decision).toMatchObject({ outcome: 'allow', rule_ids: ['write'] });
    });

    it('when the bucket was empty then the limit’s outcome (deny) wins, naming the limit', () => {
      const { decision, events } = assemble(
        received,
        inputFor(received, { rate: { limit_id: 'writes', limited: true } }),
      );
      expect(decision).toMatchObject({
        outcome: 'deny',
        tier: 1,
        rule_ids: ['write', 'rate-limit:writes'],
        reasons: ['writing is fine', 'agent agent-7 is over its rate limit for fs.write_file (2 per 60 s)'],
      });
      expect(events).toHaveLength(1);
    });
  });

  describe('given loop detection (3 failures escalate; 5 repeats deny, 8 escalate)', () => {
    const received = task({ session_id: 's-1' });
    const judged = (state: Partial<PolicyState>) =>
      assemble(received, inputFor(received, { session: session(0), ...state })).decision;

    it('when the same action failed twice then the allow stands', () => {
      expect(judged({ failures: 2 })).toMatchObject({ outcome: 'allow' });
    });

    it('when it failed 3 times then it escalates at the loop tier (loop-detected)', () => {
      expect(judged({ failures: 3 })).toMatchObject({
        outcome: 'escalate',
        tier: 2,
        rule_ids: ['read', 'loop-detected'],
        reasons: ['reading is fine', 'the same action already failed 3 times in this session (loop detection at 3)'],
      });
    });

    it('when the same call was proposed 5 times then it is refused as a repeated call', () => {
      const d = judged({ repeats: 5 });
      expect(d).toMatchObject({ outcome: 'deny', tier: 1, rule_ids: ['read', 'loop-repeated-call'] });
      expect(d.reasons[1]).toMatch(/^looping: fs.read_file with these exact arguments was already proposed 5 times/);
    });

    it('when it was proposed 8 times then it escalates instead', () => {
      const d = judged({ repeats: 8 });
      expect(d).toMatchObject({ outcome: 'escalate', tier: 2, rule_ids: ['read', 'loop-repeated-call'] });
      expect(d.reasons[1]).toMatch(/^still looping: .* proposed 8 times .*refused from 5, escalates from 8/);
    });
  });

  describe('given a path the workspace could not resolve', () => {
    it('then it denies workspace-escape', () => {
      const received = task({ action: { tool: 'fs.read_file', args: { path: 'vlink/x' } } });
      const input = { ...inputFor(received), paths: { 'vlink/x': { outside: true as const } } };
      expect(assemble(received, input).decision).toMatchObject({ outcome: 'deny', rule_ids: ['workspace-escape'] });
    });
  });

  describe('given two different task_received events for the same submission', () => {
    it('then each decision_made id derives from its own event id', () => {
      const other = { ...task(), id: 'c3b6f2a0-1d4e-4b7a-9c2f-3e5d6a7b8c9d' };
      expect(assemble(other).events[0]!.id).toBe(deriveId(other.id, 'decision_made'));
      expect(assemble(other).events[0]!.id).not.toBe(assemble(task()).events[0]!.id);
    });
  });

  describe('given a compute rule whose rewrite the bundle does not allow', () => {
    it('then the proposal is denied by what the rewrite met (no rule: default-deny), with no rewritten action', () => {
      const d = assembleDecision(
        strict,
        task({ action: { tool: 'git.push', args: { remote: 'origin', force: true } } }),
        inputFor(task({ action: { tool: 'git.push', args: { remote: 'origin', force: true } } })),
        NOW,
        keys,
      ).decision;
      expect(d).toMatchObject({ outcome: 'deny', rule_ids: ['lease', 'default-deny'] });
      expect(d.rewritten_action).toBeUndefined();
    });
  });

  describe('given a bundle in observe mode', () => {
    it('then the decision records what enforce would do, in mode observe', () => {
      const received = task({ action: { tool: 'secrets.read', args: {} } });
      const d = assembleDecision(strict, received, inputFor(received), NOW, keys).decision;
      expect(d).toMatchObject({ mode: 'observe', outcome: 'deny', rule_ids: ['secrets'] });
    });
  });

  describe('given a rule whose condition fails at run time', () => {
    it('then it denies engine-error naming the rule (fail closed)', () => {
      const received = task({ action: { tool: 'fs.read_file', args: { path: 'notes/a.md' } } });
      const d = assembleDecision(strict, received, inputFor(received), NOW, keys).decision;
      expect(d).toMatchObject({ outcome: 'deny', tier: 1, rule_ids: ['engine-error', 'broken'] });
      expect(d.reasons[0]).toMatch(/^policy engine error, failing closed: /);
    });
  });

  describe('given a standing approval for the agent and tool', () => {
    const received = task({ action: { tool: 'git.push', args: { remote: 'origin', branch: 'x' } } });
    const grant = { id: 'sa-1', scope: 'agent' as const, agent_id: 'agent-7', tool: 'git.push', max_tier: 3 as const };

    it('when it covers the rule’s tier then the escalation becomes allow, naming the standing approval', () => {
      const d = assemble(received, inputFor(received, { standing: [grant] })).decision;
      expect(d).toMatchObject({ outcome: 'allow', rule_ids: ['push', 'standing:sa-1'] });
    });

    it('when its max tier is below the rule’s then it still escalates', () => {
      const d = assemble(received, inputFor(received, { standing: [{ ...grant, max_tier: 2 }] })).decision;
      expect(d).toMatchObject({ outcome: 'escalate', tier: 3, rule_ids: ['push'] });
    });
  });
});
