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
import type { AnyEnvelope, Subjects } from '@warden/contracts';
import { isDirectoryEvent } from '@warden/contracts';
import { OrderedReader, decodeEnvelope, type BusConnection, type BusMessage } from '@warden/bus';
import { Logger } from '@warden/observability';
import {
  IdentityState,
  admits,
  bearerToken,
  forbidden,
  unauthenticated,
  type ApiKeyView,
  type AuthRequirement,
  type Principal,
  type Role,
  type StandingApprovalView,
} from '@warden/identity';
import type { BaseEnv } from './config';
import { BUS, CONFIG, LOGGER, SUBJECTS } from './core.module';

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
