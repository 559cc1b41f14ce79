import { DomainError, ValidationError, type FieldError } from '@warden/kernel';

/** One item of a plan as voting sees it. */
export interface PlanItemState {
  index: number;
  /** The item's approval, when its decision escalated. */
  approvalId?: string;
  approvalStatus?: 'pending' | 'granted' | 'rejected' | 'expired';
}

/** What an operator asks for in one plan vote. */
export interface PlanVoteRequest {
  /** The items to approve: `'all'` (every pending item) or their indexes. */
  approve: 'all' | number[];
  /** What happens to the pending items not approved: rejected now (default), or left pending until they expire. */
  rest: 'reject' | 'pending';
}

/** The per-item votes a plan vote becomes. */
export interface PlanBallot {
  approve: { index: number; approvalId: string }[];
  reject: { index: number; approvalId: string }[];
}

/**
 * Turns a plan vote into per-item votes. Pure. Every index named must be an item of the plan with a
 * pending approval; approving nothing is refused (reject the items one by one, or use `approve: []`
 * with `rest: 'reject'` to reject the whole plan).
 * @throws ValidationError an index that is not an item of the plan (path `approve.<n>`)
 * @throws DomainError PLAN.ALREADY_DECIDED when no item waits for a decision; APPROVAL.ALREADY_DECIDED for a named item that is not pending
 * @example ballot(items, { approve: [0, 2], rest: 'reject' }) // approve 0 and 2, reject 1
 */
export function ballot(items: readonly PlanItemState[], req: PlanVoteRequest): PlanBallot {
  const pending = items.filter((i) => i.approvalId && i.approvalStatus === 'pending');
  if (!pending.length) throw new DomainError('PLAN.ALREADY_DECIDED', 'no item of this plan waits for approval');
  let chosen: Set<number>;
  if (req.approve === 'all') chosen = new Set(pending.map((i) => i.index));
  else {
    const errors: FieldError[] = [];
    const seen = new Set<number>();
    req.approve.forEach((n, k) => {
      const item = items.find((i) => i.index === n);
      if (!item) errors.push({ path: `approve.${k}`, message: `the plan has no item ${n}` });
      else if (!item.approvalId) errors.push({ path: `approve.${k}`, message: `item ${n} needs no approval` });
      else if (seen.has(n)) errors.push({ path: `approve.${k}`, message: `item ${n} is named twice` });
      seen.add(n);
    });
    if (errors.length) throw new ValidationError(errors);
    for (const n of req.approve) {
      const item = items.find((i) => i.index === n)!;
      if (item.approvalStatus !== 'pending')
        throw new DomainError('APPROVAL.ALREADY_DECIDED', `item ${n}'s approval is already ${item.approvalStatus}`);
    }
    chosen = seen;
  }
  const approve = pending
    .filter((i) => chosen.has(i.index))
    .map((i) => ({ index: i.index, approvalId: i.approvalId! }));
  const reject =
    req.rest === 'reject'
      ? pending.filter((i) => !chosen.has(i.index)).map((i) => ({ index: i.index, approvalId: i.approvalId! }))
      : [];
  return { approve, reject };
}
