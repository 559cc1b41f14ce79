import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DomainError } from '@warden/kernel';
import { DATA_SOURCE } from '@warden/runtime';
import type { Principal } from '@warden/identity';
import { ApprovalRepository } from '../approval/projections/approval.repository';
import { ApprovalService } from '../approval/approval.service';
import { decideVote, type VoteChannel } from '../approval/domain/approval';
import { ballot, type PlanVoteRequest } from './domain/plan';
import { PlanRepository, type PlanView } from './projections/plan.repository';

/** Item votes of one plan vote cast at once. */
const VOTE_CONCURRENCY = 8;

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let k = 0; k < items.length; k += size) await Promise.all(items.slice(k, k + size).map(fn));
}

/** What one plan vote did to each item it touched. */
export interface PlanVoteResult {
  plan: PlanView;
  votes: { index: number; approval_id: string; vote: 'approve' | 'reject'; status: string; error?: string }[];
}

/**
 * Plan approvals: a plan is a grouping of ordinary approvals (one per escalated item). A plan vote is
 * cast as one ordinary vote per item through {@link ApprovalService.vote}, so each item gets its own
 * signed `approval_vote` and, at quorum, its own `approval_granted` bound to that item's action hash,
 * policy digest and tier — and the orchestrator checks each exactly as it checks any grant.
 */
@Injectable()
export class PlanService {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ApprovalService) private readonly approvals: ApprovalService,
  ) {}

  async get(planId: string): Promise<PlanView | undefined> {
    return new PlanRepository(this.ds.manager).load(planId);
  }

  async list(f: { status?: 'pending'; limit: number }): Promise<PlanView[]> {
    return new PlanRepository(this.ds.manager).list(f);
  }

  async planOfRun(runId: string): Promise<string | undefined> {
    return new PlanRepository(this.ds.manager).planOfRun(runId);
  }

  /**
   * Approves the chosen items (and by default rejects the other pending ones) in one action. Every item
   * to approve is checked first as its own vote would be (tier, role, no self-approval, not voted yet):
   * if one would be refused, nothing is cast. Pending items left over that this operator may not decide
   * (above their `max_tier`, or already voted on) stay pending for someone who may.
   * @throws DomainError PLAN.NOT_FOUND, PLAN.ALREADY_DECIDED, APPROVAL.ALREADY_DECIDED, APPROVAL.ALREADY_VOTED, AUTH.FORBIDDEN, VALIDATION.FAILED
   */
  async vote(
    planId: string,
    principal: Principal,
    req: PlanVoteRequest,
    channel: VoteChannel,
    comment?: string,
  ): Promise<PlanVoteResult> {
    const plan = await this.get(planId);
    if (!plan) throw new DomainError('PLAN.NOT_FOUND', 'no such plan');
    const b = ballot(
      plan.items.map((i) => ({
        index: i.index,
        approvalId: i.approval?.id,
        approvalStatus: i.approval?.status,
      })),
      req,
    );
    const repo = new ApprovalRepository(this.ds.manager);
    const now = new Date();
    for (const item of b.approve) {
      const a = await repo.load(item.approvalId);
      if (!a) throw new DomainError('APPROVAL.NOT_FOUND', `item ${item.index} has no approval`);
      try {
        decideVote(a.snapshot, { principal, vote: 'approve', channel }, now);
      } catch (err) {
        if (err instanceof DomainError)
          throw new DomainError(err.code, `item ${item.index}: ${err.message}`, { ...err.details, index: item.index });
        throw err;
      }
    }
    const rejectable: typeof b.reject = [];
    for (const item of b.reject) {
      const a = await repo.load(item.approvalId);
      if (!a) continue;
      try {
        decideVote(a.snapshot, { principal, vote: 'reject', channel }, now);
        rejectable.push(item);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        // the requesting agent may not decide any item of its plan
        if (err.code === 'AUTH.FORBIDDEN' && /own action/.test(err.message))
          throw new DomainError(err.code, `item ${item.index}: ${err.message}`, { index: item.index });
      }
    }
    const votes: PlanVoteResult['votes'] = [];
    const cast = async (item: { index: number; approvalId: string }, vote: 'approve' | 'reject') => {
      try {
        const v = await this.approvals.vote({ approvalId: item.approvalId, principal, vote, comment, channel });
        votes.push({ index: item.index, approval_id: item.approvalId, vote, status: v.status });
      } catch (err) {
        // a concurrent vote or an expiry got there first: report it per item, keep going
        if (!(err instanceof DomainError)) throw err;
        votes.push({ index: item.index, approval_id: item.approvalId, vote, status: 'refused', error: err.message });
      }
    };
    // items are independent approvals: their votes (and policy re-checks) go in parallel, a few at a time
    await inBatches(b.approve, VOTE_CONCURRENCY, (item) => cast(item, 'approve'));
    await inBatches(rejectable, VOTE_CONCURRENCY, (item) => cast(item, 'reject'));
    const order = (v: { vote: string; index: number }) => (v.vote === 'approve' ? 0 : 1000) + v.index;
    votes.sort((x, y) => order(x) - order(y));
    return { plan: (await this.get(planId))!, votes };
  }
}
