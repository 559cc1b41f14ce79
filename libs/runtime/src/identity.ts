import { randomBytes } from 'node:crypto';
import {
  Global,
  Inject,
  Injectable,
  Module,
  SetMetadata,
  UseGuards,
  applyDecorators,
  type CanActivate,
  type ExecutionContext,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { AnyEnvelope, EventData, Subjects } from '@warden/contracts';
import { isDirectoryEvent } from '@warden/contracts';
import { OrderedReader, decodeEnvelope, type BusConnection, type BusMessage } from '@warden/bus';
import { Logger } from '@warden/observability';
import {
  bearerToken,
  forbidden,
  hasRole,
  hashToken,
  safeEqual,
  unauthenticated,
  type Principal,
  type Role,
} from './auth';
import type { BaseEnv } from './config';
import { BUS, CONFIG, LOGGER, SUBJECTS } from './core.module';

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
 * `standing_approval_*` events. `apply` is pure bookkeeping (unit-tested); {@link IdentityDirectory}
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

/**
 * The identity directory of one process: replays `warden.events.directory.>` from the start at boot
 * (the app is not ready before it has caught up) and follows it live, so a revoke published by any
 * replica takes effect here within the stream's delivery latency (milliseconds).
 */
@Injectable()
export class IdentityDirectory implements OnModuleInit, OnApplicationShutdown {
  private readonly state: IdentityState;
  private reader?: OrderedReader;
  private readonly listeners = new Set<(env: AnyEnvelope) => void>();
  private caughtUp?: Promise<void>;

  constructor(
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(CONFIG) config: BaseEnv,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.state = new IdentityState(config.WARDEN_BOOTSTRAP_ADMIN_TOKEN);
  }

  async onModuleInit(): Promise<void> {
    this.reader = new OrderedReader(
      this.bus,
      { stream: this.subjects.streams.events, filterSubject: this.subjects.directoryAll, startSeq: 1, maxBatch: 200 },
      async (batch) => this.applyBatch(batch),
      this.log,
    );
    this.caughtUp = this.reader.start({ untilCaughtUp: true });
    await this.caughtUp;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.reader?.stop();
  }

  private applyBatch(batch: BusMessage[]): void {
    for (const m of batch) {
      let env: AnyEnvelope;
      try {
        env = decodeEnvelope(m.json());
      } catch (err) {
        // a malformed directory event grants nothing; record it and go on
        this.log.warn('directory event ignored: invalid', { seq: m.seq, error: err as Error });
        continue;
      }
      if (!isDirectoryEvent(env.type)) continue;
      this.state.apply(env);
      for (const fn of this.listeners) {
        try {
          fn(env);
        } catch (err) {
          this.log.warn('directory listener failed', { error: err as Error });
        }
      }
    }
  }

  /** Resolves once the directory has caught up with the stream as it was at start. */
  ready(): Promise<void> {
    return this.caughtUp ?? Promise.resolve();
  }
  authenticate(token: string): Principal | undefined {
    return this.state.authenticate(token);
  }
  /** The one active operator linked to this Slack user; undefined when none, or when several are (ambiguous). */
  operatorBySlackUser(slackUserId: string): Principal | undefined {
    return this.state.operatorBySlackUser(slackUserId);
  }
  /** Every active operator linked to this Slack user. */
  operatorsBySlackUser(slackUserId: string): Principal[] {
    return this.state.operatorsBySlackUser(slackUserId);
  }
  operator(id: string): (Principal & { revoked: boolean }) | undefined {
    return this.state.operator(id);
  }
  apiKeys(): ApiKeyView[] {
    return this.state.apiKeys();
  }
  standingApprovals(now = new Date()): StandingApprovalView[] {
    return this.state.standingApprovals(now);
  }
  allStandingApprovals(): StandingApprovalView[] {
    return this.state.allStandingApprovals();
  }
  /** Called after each applied directory event; returns an unsubscribe function. */
  onChange(fn: (env: AnyEnvelope) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/** Who may call a route. */
export interface AuthRequirement {
  /** Operators need at least this role. Without it, operators are not admitted (unless apiKey alone is set). */
  role?: Role;
  /** Admit API keys. */
  apiKey?: boolean;
}

const AUTH_KEY = 'warden:auth';

export type AuthedRequest = Request & { principal?: Principal };

/** Bearer-token auth against the {@link IdentityDirectory}: 401 without a valid token, 403 without the right role. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly directory: IdentityDirectory,
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    const need = this.reflector.getAllAndOverride<AuthRequirement | undefined>(AUTH_KEY, [
      ctx.getHandler(),
      ctx.getClass(),
    ]);
    if (!need) return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const token = bearerToken(req.headers.authorization);
    const principal = token ? this.directory.authenticate(token) : undefined;
    if (!principal) throw unauthenticated();
    if (!admits(need, principal)) throw forbidden(need.role ?? 'viewer');
    req.principal = principal;
    return true;
  }
}

/** Whether a requirement admits a principal (API keys only where `apiKey` is set; operators by role). */
export function admits(need: AuthRequirement, p: Principal): boolean {
  if (p.kind === 'api_key') return need.apiKey === true;
  if (need.role) return hasRole(p, need.role);
  return !need.apiKey; // an API-key-only route admits no operator; an empty requirement admits any
}

/**
 * Route (or controller) auth: `@Auth('approver')`, `@Auth({ apiKey: true })`, `@Auth({ apiKey: true, role: 'viewer' })`.
 * Sets `req.principal`. Needs {@link IdentityModule} imported by the app.
 */
export function Auth(opts: Role | AuthRequirement): MethodDecorator & ClassDecorator {
  const need: AuthRequirement = typeof opts === 'string' ? { role: opts } : opts;
  return applyDecorators(SetMetadata(AUTH_KEY, need), UseGuards(AuthGuard));
}

/** Provides {@link IdentityDirectory} and {@link AuthGuard} (needs CoreModule). */
@Global()
@Module({ providers: [IdentityDirectory, AuthGuard], exports: [IdentityDirectory, AuthGuard] })
export class IdentityModule {}
