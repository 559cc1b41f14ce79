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
