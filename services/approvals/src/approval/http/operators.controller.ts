import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { OperatorRole, Tier } from '@warden/contracts';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { DomainError, isUuid, newId, newTraceId } from '@warden/kernel';
import { Auth, DATA_SOURCE, IdentityDirectory, PUBLISHER, type AuthedRequest, parseBody } from '@warden/runtime';
import { newSecret, secretHash } from '@warden/identity';

export const CreateOperator = z.strictObject({
  name: z.string().min(1).max(200),
  roles: z.array(OperatorRole).min(1),
  max_tier: Tier,
  slack_user_id: z.string().min(1).max(100).optional(),
});
export const RevokeBody = z.strictObject({ reason: z.string().max(2000).optional() });

export interface OperatorView {
  id: string;
  name: string;
  roles: string[];
  max_tier: number;
  slack_user_id: string | null;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

/**
 * Operators: created by an admin; the token is shown once and only its SHA-256 travels (`operator_created`),
 * so every service's IdentityDirectory authenticates it within milliseconds. Revocation is `operator_revoked`.
 */
@Controller('v1/operators')
export class OperatorsController {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    private readonly directory: IdentityDirectory,
  ) {}

  @Post()
  @HttpCode(201)
  @Auth('admin')
  async create(@Body() body: unknown, @Req() req: AuthedRequest): Promise<{ id: string; token: string }> {
    const b = parseBody(CreateOperator, body);
    // Slack acts as the one operator a Slack user is linked to: a second link would be ambiguous
    // (the lookup refuses an ambiguous mapping too, for two creations racing past this check)
    if (b.slack_user_id && this.directory.operatorsBySlackUser(b.slack_user_id).length)
      throw new DomainError(
        'SLACK.ALREADY_LINKED',
        `Slack user ${b.slack_user_id} is already linked to an active operator; revoke that operator first`,
      );
    const id = newId();
    const token = newSecret('wop');
    await this.publisher.publishEvent(
      makeEnvelope({
        type: 'operator_created',
        runId: null,
        correlationId: id,
        producer: 'approvals',
        traceId: newTraceId(),
        data: {
          operator_id: id,
          name: b.name,
          roles: b.roles,
          max_tier: b.max_tier,
          ...(b.slack_user_id ? { slack_user_id: b.slack_user_id } : {}),
          token_hash: secretHash(token),
          created_by: req.principal!.name,
        },
      }),
    );
    return { id, token };
  }

  @Get()
  @Auth('admin')
  async list(): Promise<{ items: OperatorView[] }> {
    const rows: (Omit<OperatorView, 'created_at' | 'revoked_at'> & { created_at: Date; revoked_at: Date | null })[] =
      await this.ds.query('SELECT * FROM approvals.operators ORDER BY created_at, id');
    return {
      items: rows.map((r) => ({
        ...r,
        created_at: r.created_at.toISOString(),
        revoked_at: r.revoked_at ? r.revoked_at.toISOString() : null,
      })),
    };
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @Auth('admin')
  async revoke(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: AuthedRequest,
  ): Promise<{ id: string; revoked: true }> {
    const b = parseBody(RevokeBody, body);
    const op = isUuid(id) ? this.directory.operator(id) : undefined;
    if (!op) throw new DomainError('OPERATOR.NOT_FOUND', 'no such operator');
    if (op.revoked) throw new DomainError('OPERATOR.ALREADY_REVOKED', 'operator is already revoked');
    await this.publisher.publishEvent(
      makeEnvelope({
        type: 'operator_revoked',
        runId: null,
        correlationId: id,
        producer: 'approvals',
        traceId: newTraceId(),
        data: { operator_id: id, by: req.principal!.name, ...(b.reason ? { reason: b.reason } : {}) },
      }),
    );
    return { id, revoked: true };
  }
}
