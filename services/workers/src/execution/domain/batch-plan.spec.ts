import { planBatch, type ExistingClaim } from './batch-plan';

const A = '3b1f0c9e-2f55-4d39-9a43-5a3a0e0a7c11';
const B = '9c0d7e4f-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
const idempotent = (tool: string) => tool === 'fs.read_file';

describe('planBatch', () => {
  it('plans each unclaimed run once, in order of first appearance', () => {
    const cmds = [
      { runId: A, tool: 'fs.write_file' },
      { runId: B, tool: 'fs.read_file' },
    ];
    const plans = planBatch(cmds, new Map(), idempotent);
    expect(plans).toEqual([
      { runId: A, lead: cmds[0], followers: [], plan: { kind: 'execute', attempt: 1 } },
      { runId: B, lead: cmds[1], followers: [], plan: { kind: 'execute', attempt: 1 } },
    ]);
    expect(plans[0]!.lead).toBe(cmds[0]);
  });

  it('executes a run at most once when several of its commands share a batch', () => {
    const cmds = [
      { runId: A, tool: 'fs.write_file', n: 0 },
      { runId: B, tool: 'fs.read_file', n: 1 },
      { runId: A, tool: 'fs.write_file', n: 2 },
      // another command for the same run, in another letter case
      { runId: A.toUpperCase(), tool: 'fs.read_file', n: 3 },
    ];
    const plans = planBatch(cmds, new Map(), idempotent);
    expect(plans).toHaveLength(2);
    expect(plans[0]).toMatchObject({ runId: A, plan: { kind: 'execute' } });
    expect(plans[0]!.lead.n).toBe(0);
    expect(plans[0]!.followers.map((f) => f.n)).toEqual([2, 3]);
    expect(plans[1]!.lead.n).toBe(1);
    expect(plans[1]!.followers).toEqual([]);
  });

  it("plans a claimed run on the claimed tool, not on a later command's", () => {
    const claims = new Map<string, ExistingClaim>([
      [A, { status: 'started', attempt: 1, tool: 'fs.write_file' }],
      [B, { status: 'succeeded', attempt: 1, tool: 'fs.write_file' }],
    ]);
    const plans = planBatch(
      [
        { runId: A, tool: 'fs.read_file' },
        { runId: B, tool: 'fs.read_file' },
      ],
      claims,
      idempotent,
    );
    expect(plans.map((p) => p.plan)).toEqual([{ kind: 'outcome_unknown' }, { kind: 'republish' }]);
  });

  it('re-executes an interrupted idempotent run as the next attempt', () => {
    const claims = new Map<string, ExistingClaim>([[A, { status: 'started', attempt: 2, tool: 'fs.read_file' }]]);
    expect(planBatch([{ runId: A, tool: 'fs.read_file' }], claims, idempotent)[0]!.plan).toEqual({
      kind: 'reexecute',
      attempt: 3,
    });
  });

  it('plans nothing for an empty batch', () => {
    expect(planBatch([], new Map(), idempotent)).toEqual([]);
  });
});
