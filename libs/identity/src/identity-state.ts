import { randomBytes } from 'node:crypto';
import type { AnyEnvelope, EventData } from '@warden/contracts';
import { hashToken, safeEqual, type Principal } from './auth';

/**
 * A new secret: 256 random bits. `wop_` operator tokens and `wk_` API keys are base64url;
 * `whsec_` webhook secrets are standard base64 as Standard Webhooks expects.
 */
export function newSecret(prefix: 'wop' | 'wk' | 'whsec'): string {
  const bytes = randomBytes(32);
  return `${prefix}_${bytes.toString(prefix === 'whsec' ? 'base64' : 'base64url')}`;
}

/** `sha256:<hex>` of a secret: the only form a token or key is stored or published in. */
export function secretHash(secret: string): string {
  return `sha256:${hashToken(secret)}`;
}

/** What a list of API keys shows (never the key or its hash). */
export interface ApiKeyView {
  key_id: string;
  name: string;
  owner: string;
  created_at: string;
  created_by: string;
  expires_at?: string;
  revoked_at?: string;
  /** The one agent the key speaks for (absent: unbound, or bound by `roles`). */
  agent?: { id: string; role: string };
  /** The roles a harness key may submit under. */
  roles?: string[];
  /** The glob every agent id of a harness key must match. */
  agent_pattern?: string;
}

export type StandingApprovalView = EventData<'standing_approval_granted'> & {
  granted_at: string;
  revoked_at?: string;
};

interface OperatorEntry {
  principal: Principal;
  tokenHash: string;
  revoked: boolean;
}

interface ApiKeyEntry {
  view: ApiKeyView;
  hash: string;
}

/**
 * Who may call Warden, as of the directory events seen so far: a fold of `operator_*`, `api_key_*` and
 * `standing_approval_*` events. `apply` is pure bookkeeping (unit-tested); `IdentityDirectory` (@warden/runtime)
 * keeps one up to date from the stream.
 */
export class IdentityState {
  private readonly operators = new Map<string, OperatorEntry>();
  private readonly operatorByHash = new Map<string, OperatorEntry>();
  private readonly keys = new Map<string, ApiKeyEntry>();
  private readonly keyByHash = new Map<string, ApiKeyEntry>();
  private readonly standing = new Map<string, StandingApprovalView>();

  constructor(private readonly bootstrapToken?: string) {}

  apply(env: AnyEnvelope): void {
    switch (env.type) {
      case 'operator_created': {
        const d = env.data;
        if (this.operators.has(d.operator_id)) return;
        const entry: OperatorEntry = {
          tokenHash: d.token_hash,
          revoked: false,
          principal: {
            kind: 'operator',
            id: d.operator_id,
            name: d.name,
            roles: d.roles,
            maxTier: d.max_tier,
            ...(d.slack_user_id ? { slackUserId: d.slack_user_id } : {}),
          },
        };
        this.operators.set(d.operator_id, entry);
        this.operatorByHash.set(d.token_hash, entry);
        return;
      }
      case 'operator_revoked': {
        const entry = this.operators.get(env.data.operator_id);
        if (entry) entry.revoked = true;
        return;
      }
      case 'api_key_created': {
        const d = env.data;
        if (this.keys.has(d.key_id)) return;
        const entry: ApiKeyEntry = {
          hash: d.key_hash,
          view: {
            key_id: d.key_id,
            name: d.name,
            owner: d.owner,
            created_at: env.occurred_at,
            created_by: d.created_by,
            ...(d.expires_at ? { expires_at: d.expires_at } : {}),
            ...(d.agent ? { agent: { id: d.agent.id, role: d.agent.role } } : {}),
            ...(d.roles ? { roles: [...d.roles] } : {}),
            ...(d.agent_pattern !== undefined ? { agent_pattern: d.agent_pattern } : {}),
          },
        };
        this.keys.set(d.key_id, entry);
        this.keyByHash.set(d.key_hash, entry);
        return;
      }
      case 'api_key_revoked': {
        const entry = this.keys.get(env.data.key_id);
        if (!entry) return;
        const at = env.data.effective_at ?? env.occurred_at;
        // a later revoke may bring a scheduled one forward, never push it back
        if (!entry.view.revoked_at || Date.parse(at) < Date.parse(entry.view.revoked_at)) entry.view.revoked_at = at;
        return;
      }
      case 'standing_approval_granted':
        if (!this.standing.has(env.data.standing_id))
          this.standing.set(env.data.standing_id, { ...env.data, granted_at: env.occurred_at });
        return;
      case 'standing_approval_revoked': {
        const s = this.standing.get(env.data.standing_id);
        if (s && !s.revoked_at) s.revoked_at = env.occurred_at;
        return;
      }
      default:
        return;
    }
  }

  /** The principal a bearer token stands for, or undefined (unknown, revoked or expired). */
  authenticate(token: string, now = new Date()): Principal | undefined {
    if (this.bootstrapToken && safeEqual(token, this.bootstrapToken))
      return { kind: 'bootstrap', id: 'bootstrap-admin', name: 'bootstrap-admin', roles: ['admin'], maxTier: 3 };
    const hash = secretHash(token);
    const op = this.operatorByHash.get(hash);
    if (op) return op.revoked ? undefined : op.principal;
    const key = this.keyByHash.get(hash);
    if (!key || !keyActive(key.view, now)) return undefined;
    const binding = keyBinding(key.view);
    return {
      kind: 'api_key',
      id: key.view.key_id,
      name: key.view.name,
      owner: key.view.owner,
      roles: [],
      maxTier: 0,
      ...(binding ? { binding } : {}),
    };
  }

  /** The one active operator linked to this Slack user; undefined when none, or when several are (ambiguous). */
  operatorBySlackUser(slackUserId: string): Principal | undefined {
    const linked = this.operatorsBySlackUser(slackUserId);
    return linked.length === 1 ? linked[0] : undefined;
  }

  /** Every active operator linked to this Slack user (more than one is a mapping Slack must refuse). */
  operatorsBySlackUser(slackUserId: string): Principal[] {
    const linked: Principal[] = [];
    for (const op of this.operators.values())
      if (!op.revoked && op.principal.slackUserId === slackUserId) linked.push(op.principal);
    return linked;
  }

  operator(id: string): (Principal & { revoked: boolean }) | undefined {
    const op = this.operators.get(id);
    return op ? { ...op.principal, revoked: op.revoked } : undefined;
  }

  apiKeys(): ApiKeyView[] {
    return [...this.keys.values()].map((k) => ({ ...k.view }));
  }

  /** Standing approvals in force at `now`. */
  standingApprovals(now = new Date()): StandingApprovalView[] {
    return [...this.standing.values()].filter((s) => !s.revoked_at && Date.parse(s.expires_at) > now.getTime());
  }

  /** Every standing approval ever granted (for listing and audit). */
  allStandingApprovals(): StandingApprovalView[] {
    return [...this.standing.values()].map((s) => ({ ...s }));
  }
}

/** A key's binding as the principal carries it; undefined for an unbound (legacy) key. */
function keyBinding(k: ApiKeyView): Principal['binding'] {
  if (!k.agent && !k.roles && k.agent_pattern === undefined) return undefined;
  return {
    ...(k.agent ? { agent: { ...k.agent } } : {}),
    ...(k.roles ? { roles: [...k.roles] } : {}),
    ...(k.agent_pattern !== undefined ? { agentPattern: k.agent_pattern } : {}),
  };
}

function keyActive(k: ApiKeyView, now: Date): boolean {
  if (k.revoked_at && Date.parse(k.revoked_at) <= now.getTime()) return false;
  if (k.expires_at && Date.parse(k.expires_at) <= now.getTime()) return false;
  return true;
}
