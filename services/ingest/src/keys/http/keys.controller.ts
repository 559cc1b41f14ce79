import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { z } from 'zod';
import { Agent, Timestamp } from '@warden/contracts';
import { DomainError, isUuid } from '@warden/kernel';
import { Auth, type AuthedRequest, parseBody } from '@warden/runtime';
import type { Principal } from '@warden/identity';
import { KeysService, type CreatedKey, type KeyListing } from '../keys.service';
import type { RevokedKeyResponse } from './keys.schemas';

/**
 * A key speaks for one `agent`, or (a harness running several agents) for `roles` with an optional
 * `agent_pattern` glob (`*` = any run of characters) every agent id must match. Neither: an unbound
 * key, kept for compatibility (its answers carry a deprecation warning).
 */
export const CreateKey = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    owner: z.string().trim().min(1).max(200),
    expires_at: Timestamp.optional(),
    agent: Agent.optional(),
    roles: z.array(Agent.shape.role).min(1).max(64).optional(),
    agent_pattern: z.string().min(1).max(200).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.agent && v.roles)
      ctx.addIssue({ code: 'custom', path: ['roles'], message: 'a key speaks for one agent or for roles, not both' });
    if (v.agent && v.agent_pattern !== undefined)
      ctx.addIssue({ code: 'custom', path: ['agent_pattern'], message: 'a key bound to one agent takes no pattern' });
    if (v.agent_pattern !== undefined && !v.roles)
      ctx.addIssue({ code: 'custom', path: ['roles'], message: 'agent_pattern needs the roles the agents may use' });
  });
export const RevokeKey = z.strictObject({ reason: z.string().max(500).optional() });
export const RotateKey = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .optional(),
});

function keyId(id: string): string {
  if (!isUuid(id)) throw new DomainError('KEY.NOT_FOUND', 'no such API key');
  return id;
}

const principal = (req: AuthedRequest): Principal => req.principal!;

/** API keys for integrators (`POST /v1/tasks`). Every route needs the admin operator token. */
@Controller('v1/keys')
@Auth('admin')
export class KeysController {
  constructor(@Inject(KeysService) private readonly keys: KeysService) {}

  /** Creates a key; the answer is the only time the key is shown. */
  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthedRequest): Promise<CreatedKey> {
    return this.keys.create(parseBody(CreateKey, body), principal(req));
  }

  @Get()
  async list(): Promise<{ keys: KeyListing[] }> {
    return { keys: await this.keys.list() };
  }

  @Post(':id/revoke')
  @HttpCode(200)
  revoke(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: AuthedRequest,
  ): Promise<z.output<typeof RevokedKeyResponse>> {
    return this.keys.revoke(keyId(id), principal(req), parseBody(RevokeKey, body).reason);
  }

  /** A new key now; the old one keeps working for the grace period, then is refused everywhere. */
  @Post(':id/rotate')
  @HttpCode(201)
  rotate(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest) {
    return this.keys.rotate(keyId(id), principal(req), parseBody(RotateKey, body).grace_seconds);
  }
}
