import type { StandingApprovalView } from '@warden/runtime';

/** Ed25519 keys that sign decisions (from WARDEN_SIGNING_KEY). */
export const SIGNING_KEYS = Symbol('SIGNING_KEYS');
/** The clock decisions are stamped with. */
export const CLOCK = Symbol('CLOCK');
/** Where active standing approvals come from (the IdentityDirectory). */
export const STANDING_APPROVALS = Symbol('STANDING_APPROVALS');

/** The part of the IdentityDirectory the policy reads. */
export interface StandingApprovalSource {
  standingApprovals(now?: Date): StandingApprovalView[];
}
