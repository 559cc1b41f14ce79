import { createHash, timingSafeEqual } from 'node:crypto';
import { DomainError } from '@warden/kernel';

/** Operator roles, lowest to highest. */
export const ROLES = ['viewer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: the bootstrap admin, an operator, or an API key (integrators). */
export interface Principal {
  kind: 'bootstrap' | 'operator' | 'api_key';
  id: string;
  name: string;
  /** Operator roles; empty for API keys. */
  roles: Role[];
  /** Highest approval tier an operator may decide; 0 for API keys. */
  maxTier: number;
  slackUserId?: string;
  /** An API key's owner. */
  owner?: string;
  /** An API key's binding: the one agent it speaks for, or roles + an agent-id glob; absent = unbound (legacy). */
  binding?: { agent?: { id: string; role: string }; roles?: string[]; agentPattern?: string };
}

/**
 * Whether a key's binding lets it speak for `agent`: `ok` inside the binding, `outside` when the
 * agent id or role is not the key's, `unbound` for a key without a binding (legacy: callers admit it
 * with a deprecation warning, or refuse it). A binding with an agent admits exactly that id and role;
 * one with roles admits any of them, for any agent id matching `agentPattern` (any id when absent).
 * @example bindingAdmits(p, { id: 'harness-7', role: 'dev' }) // 'ok' for roles ['dev'], pattern 'harness-*'
 */
export function bindingAdmits(p: Principal, agent: { id: string; role: string }): 'ok' | 'unbound' | 'outside' {
  const b = p.binding;
  if (!b || (!b.agent && !b.roles && b.agentPattern === undefined)) return 'unbound';
  return bindingErrors(p, agent).length === 0 ? 'ok' : 'outside';
}

/**
 * The field errors (`agent.id`, `agent.role`) that put `agent` outside the principal's binding; empty
 * when inside or unbound. What a refusal names.
 */
export function bindingErrors(p: Principal, agent: { id: string; role: string }): { path: string; message: string }[] {
  const b = p.binding;
  if (!b) return [];
  const errors: { path: string; message: string }[] = [];
  if (b.agent) {
    if (agent.id !== b.agent.id)
      errors.push({ path: 'agent.id', message: `this API key speaks for agent "${b.agent.id}" only` });
    if (agent.role !== b.agent.role)
      errors.push({ path: 'agent.role', message: `this API key speaks for role "${b.agent.role}" only` });
    return errors;
  }
  if (b.agentPattern !== undefined && !globMatches(b.agentPattern, agent.id))
    errors.push({ path: 'agent.id', message: `this API key speaks only for agent ids matching "${b.agentPattern}"` });
  if (b.roles && !b.roles.includes(agent.role))
    errors.push({ path: 'agent.role', message: `this API key speaks only for roles ${b.roles.join(', ')}` });
  return errors;
}

/**
 * Whether `value` matches a glob where `*` stands for any run of characters (possibly empty) and
 * every other character for itself; the whole value must match.
 * @example globMatches('harness-*', 'harness-7') // true
 */
export function globMatches(pattern: string, value: string): boolean {
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (parts.length === 1) return value === pattern;
  if (!value.startsWith(first) || value.length < first.length + last.length || !value.endsWith(last)) return false;
  // greedy left-to-right over the middle parts is exact for `*`-only globs
  let at = first.length;
  const end = value.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const i = value.indexOf(part, at);
    if (i < 0 || i + part.length > end) return false;
    at = i + part.length;
  }
  return true;
}

/** SHA-256 hex of a token: what is stored at rest. Tokens are 256-bit random, so a fast hash suffices. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time string comparison (hashes first so lengths never leak). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** The bearer token in an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** True if any of the principal's roles is at least `role`. */
export function hasRole(p: Principal, role: Role): boolean {
  const need = ROLES.indexOf(role);
  return p.roles.some((r) => ROLES.indexOf(r) >= need);
}

export function unauthenticated(): DomainError {
  return new DomainError('AUTH.UNAUTHENTICATED', 'a valid bearer token is required');
}
export function forbidden(role: Role): DomainError {
  return new DomainError('AUTH.FORBIDDEN', `requires role ${role}`);
}

/** A bound API key naming an agent outside its binding: `403` with the field paths (`agent.id`, `agent.role`). */
export function agentMismatch(errors: { path: string; message: string }[]): DomainError {
  return new DomainError(
    'KEY.AGENT_MISMATCH',
    errors.map((e) => `${e.path}: ${e.message}`).join('; ') ||
      'the submission names an agent this API key does not speak for',
    { errors },
  );
}

/** The `Warning` header an unbound (legacy) API key's answers carry, next to `Deprecation: true`. */
export const UNBOUND_KEY_WARNING = '299 - "API key is not bound to an agent; bind it (POST /v1/keys with agent)"';

/** Who may call a route. */
export interface AuthRequirement {
  /** Operators need at least this role. Without it, operators are not admitted (unless apiKey alone is set). */
  role?: Role;
  /** Admit API keys. */
  apiKey?: boolean;
}

/** Whether a requirement admits a principal (API keys only where `apiKey` is set; operators by role). */
export function admits(need: AuthRequirement, p: Principal): boolean {
  if (p.kind === 'api_key') return need.apiKey === true;
  if (need.role) return hasRole(p, need.role);
  return !need.apiKey; // an API-key-only route admits no operator; an empty requirement admits any
}
