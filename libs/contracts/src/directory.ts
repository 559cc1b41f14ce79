import { z } from 'zod';
import { Sha256, Timestamp, Uuid } from './common';
import { Tier } from './decision';
import { Agent } from './submission';

/**
 * Directory events: who may call Warden (operators, API keys) and standing approvals. They are not
 * about one run, so they travel on `warden.events.directory.<entity_id>.<type>` (envelope `run_id`
 * null, `correlation_id` = the entity id). Every service that authenticates callers replays them into
 * memory (`IdentityDirectory` in @warden/runtime): a revoke reaches every replica within milliseconds.
 * Tokens and keys never travel: only their SHA-256.
 */
export const OperatorRole = z.enum(['viewer', 'approver', 'admin']);

export const OperatorCreatedData = z.object({
  operator_id: Uuid,
  name: z.string().min(1).max(200),
  roles: z.array(OperatorRole).min(1),
  max_tier: Tier,
  slack_user_id: z.string().min(1).max(100).optional(),
  /** `sha256:<hex>` of the bearer token. */
  token_hash: Sha256,
  created_by: z.string(),
});

export const OperatorRevokedData = z.object({ operator_id: Uuid, by: z.string(), reason: z.string().optional() });

export const ApiKeyCreatedData = z.object({
  key_id: Uuid,
  name: z.string().min(1).max(200),
  owner: z.string().min(1).max(200),
  /** `sha256:<hex>` of the key. */
  key_hash: Sha256,
  expires_at: Timestamp.optional(),
  created_by: z.string(),
  /** The one agent this key speaks for (a submission naming another agent id or role is refused). */
  agent: Agent.optional(),
  /** For a harness running several agents: the roles it may submit under (with `agent_pattern`). */
  roles: z.array(Agent.shape.role).min(1).max(64).optional(),
  /** For a harness: a glob (`*` = any run of characters) every agent id it names must match, e.g. `harness-*`. */
  agent_pattern: z.string().min(1).max(200).optional(),
});

export const ApiKeyRevokedData = z.object({
  key_id: Uuid,
  by: z.string(),
  reason: z.string().optional(),
  /** Revocation may be scheduled (rotation grace period); absent = now. */
  effective_at: Timestamp.optional(),
});

/**
 * An approver's "approve and allow this pattern": while it stands, the policy service allows a
 * proposal that would escalate at or below `max_tier` when agent, tool (and session, for scope
 * `session`) match.
 */
export const StandingApprovalGrantedData = z.object({
  standing_id: Uuid,
  approval_id: Uuid,
  scope: z.enum(['session', 'agent']),
  agent_id: z.string(),
  session_id: z.string().optional(),
  tool: z.string(),
  max_tier: Tier,
  expires_at: Timestamp,
  granted_by: z.array(z.string()).min(1),
});

export const StandingApprovalRevokedData = z.object({
  standing_id: Uuid,
  by: z.string(),
  reason: z.string().optional(),
});

export const DirectoryEventSchemas = {
  operator_created: OperatorCreatedData,
  operator_revoked: OperatorRevokedData,
  api_key_created: ApiKeyCreatedData,
  api_key_revoked: ApiKeyRevokedData,
  standing_approval_granted: StandingApprovalGrantedData,
  standing_approval_revoked: StandingApprovalRevokedData,
} as const;

export type DirectoryEventType = keyof typeof DirectoryEventSchemas;
export const DIRECTORY_EVENT_TYPES = Object.keys(DirectoryEventSchemas) as DirectoryEventType[];
export function isDirectoryEvent(type: string): type is DirectoryEventType {
  return Object.prototype.hasOwnProperty.call(DirectoryEventSchemas, type);
}
