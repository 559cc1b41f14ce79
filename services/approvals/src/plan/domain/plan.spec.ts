import { DomainError, ValidationError } from '@warden/kernel';
import { ballot, type PlanItemState } from './plan';

const items: PlanItemState[] = [
  { index: 0, approvalId: 'a0', approvalStatus: 'pending' },
  { index: 1, approvalId: 'a1', approvalStatus: 'pending' },
  { index: 2 }, // allowed or denied: no approval
  { index: 3, approvalId: 'a3', approvalStatus: 'granted' },
  { index: 4, approvalId: 'a4', approvalStatus: 'pending' },
];

describe('a plan vote becomes per-item votes', () => {
  it('approve all: every pending item, nothing rejected', () => {
    expect(ballot(items, { approve: 'all', rest: 'reject' })).toEqual({
      approve: [
        { index: 0, approvalId: 'a0' },
        { index: 1, approvalId: 'a1' },
        { index: 4, approvalId: 'a4' },
      ],
      reject: [],
    });
  });

  it('a subset: those approved, the other pending items rejected (or left pending)', () => {
    expect(ballot(items, { approve: [4, 0], rest: 'reject' })).toEqual({
      approve: [
        { index: 0, approvalId: 'a0' },
        { index: 4, approvalId: 'a4' },
      ],
      reject: [{ index: 1, approvalId: 'a1' }],
    });
    expect(ballot(items, { approve: [1], rest: 'pending' })).toEqual({
      approve: [{ index: 1, approvalId: 'a1' }],
      reject: [],
    });
    expect(ballot(items, { approve: [], rest: 'reject' }).reject.map((i) => i.index)).toEqual([0, 1, 4]);
  });

  it('refuses indexes that are not escalated items of the plan, naming them', () => {
    const err = (approve: number[]) => {
      try {
        ballot(items, { approve, rest: 'reject' });
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e = err([7, 2, 0, 0]) as ValidationError;
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.errors).toEqual([
      { path: 'approve.0', message: 'the plan has no item 7' },
      { path: 'approve.1', message: 'item 2 needs no approval' },
      { path: 'approve.3', message: 'item 0 is named twice' },
    ]);
    expect(err([3])).toMatchObject({
      code: 'APPROVAL.ALREADY_DECIDED',
      message: "item 3's approval is already granted",
    });
  });

  it('a plan with nothing pending has nothing to decide', () => {
    const decided = items.map((i) => (i.approvalId ? { ...i, approvalStatus: 'rejected' as const } : i));
    expect(() => ballot(decided, { approve: 'all', rest: 'reject' })).toThrow(DomainError);
    expect(() => ballot(decided, { approve: 'all', rest: 'reject' })).toThrow(
      'no item of this plan waits for approval',
    );
  });
});
