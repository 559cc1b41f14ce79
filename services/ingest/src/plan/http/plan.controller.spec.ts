import { PlanSubmission, TaskSubmission } from '@warden/contracts';
import { planSubmissions } from './plan.controller';

const PLAN_ID = '0b6e3a52-4c41-4b7a-9a0e-3d2f1c9e8a11';

describe('a plan becomes ordinary submissions', () => {
  const plan = PlanSubmission.parse({
    agent: { id: 'agent-7', role: 'dev' },
    session_id: 'sess-1',
    intent: 'release',
    items: [
      { tool: 'deploy.staging', args: { ref: 'v1' } },
      { tool: 'pr.open', args: { title: 'T' }, intent: 'the PR', usage: { tokens: 12 } },
    ],
  });

  it('one per item, in order, each naming its place in the plan and a per-item idempotency key', () => {
    const subs = planSubmissions(plan, PLAN_ID);
    expect(subs).toEqual([
      {
        idempotency_key: `plan:${PLAN_ID}:0`,
        agent: { id: 'agent-7', role: 'dev' },
        session_id: 'sess-1',
        action: { tool: 'deploy.staging', args: { ref: 'v1' } },
        intent: 'release',
        plan: { id: PLAN_ID, index: 0, count: 2 },
      },
      {
        idempotency_key: `plan:${PLAN_ID}:1`,
        agent: { id: 'agent-7', role: 'dev' },
        session_id: 'sess-1',
        action: { tool: 'pr.open', args: { title: 'T' } },
        intent: 'the PR',
        usage: { tokens: 12 },
        plan: { id: PLAN_ID, index: 1, count: 2 },
      },
    ]);
    for (const s of subs) expect(TaskSubmission.safeParse(s).success).toBe(true);
  });

  it('the contract refuses what no plan can be: an empty or oversized plan, an index past its count, unknown fields', () => {
    expect(PlanSubmission.safeParse({ ...plan, items: [] }).success).toBe(false);
    expect(PlanSubmission.safeParse({ ...plan, items: Array(51).fill(plan.items[0]) }).success).toBe(false);
    expect(PlanSubmission.safeParse({ ...plan, itemz: [] }).success).toBe(false);
    const bad = TaskSubmission.safeParse({
      ...planSubmissions(plan, PLAN_ID)[0],
      plan: { id: PLAN_ID, index: 2, count: 2 },
    });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toEqual(['plan.index']);
  });
});
