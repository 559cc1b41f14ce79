import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { DataSource } from 'typeorm';
import {
  CONFIG,
  DATA_SOURCE,
  bearerToken,
  forbidden,
  hasRole,
  hashToken,
  safeEqual,
  unauthenticated,
  type BaseEnv,
  type Principal,
  type Role,
} from '@warden/runtime';
import { OperatorRepository } from './operator.repository';

const ROLE_KEY = 'warden:required-role';
/** The least role a route needs. */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);

export type AuthedRequest = Request & { principal?: Principal };

/** Bearer-token operator auth: the bootstrap admin token from env, or a hashed token in the operators table. */
@Injectable()
export class OperatorGuard implements CanActivate {
  private readonly operators: OperatorRepository;
  constructor(
    private readonly reflector: Reflector,
    @Inject(CONFIG) private readonly config: BaseEnv,
    @Inject(DATA_SOURCE) ds: DataSource,
  ) {
    this.operators = new OperatorRepository(ds);
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const role = this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, [ctx.getHandler(), ctx.getClass()]);
    if (!role) return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const token = bearerToken(req.headers.authorization);
    if (!token) throw unauthenticated();
    const principal = await this.authenticate(token);
    if (!principal) throw unauthenticated();
    if (!hasRole(principal, role)) throw forbidden(role);
    req.principal = principal;
    return true;
  }

  private async authenticate(token: string): Promise<Principal | undefined> {
    const bootstrap = this.config.WARDEN_BOOTSTRAP_ADMIN_TOKEN;
    if (bootstrap && safeEqual(token, bootstrap))
      return { kind: 'bootstrap', id: 'bootstrap-admin', name: 'bootstrap-admin', roles: ['admin'], maxTier: 3 };
    return this.operators.findByTokenHash(hashToken(token));
  }
}
