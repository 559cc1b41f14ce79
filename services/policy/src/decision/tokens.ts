import type { McpToolFacts } from '@warden/contracts';
import type { StandingApprovalView } from '@warden/identity';

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

/** The signed upstream MCP catalog and pins (KV), as policy judges upstream tools with them. */
export const MCP_TOOL_FACTS = Symbol('MCP_TOOL_FACTS');

/** What policy reads of the MCP catalog: the facts about one `<server>.<tool>` (undefined: not an upstream tool). */
export interface McpToolFactsSource {
  facts(tool: string): McpToolFacts | undefined;
}
