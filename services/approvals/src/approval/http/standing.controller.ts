import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { z } from 'zod';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { DomainError, newTraceId } from '@warden/kernel';
import { Auth, IdentityDirectory, PUBLISHER, type AuthedRequest, parseBody } from '@warden/runtime';
import type { StandingApprovalView } from '@warden/identity';

export const ListQuery = z.strictObject({ all: z.enum(['true', 'false']).optional() });
export const RevokeBody = z.strictObject({ reason: z.string().max(2000).optional() });

/**
 * Standing approvals ("approve and allow this pattern"): created by approving with `standing`,
 * honoured by the policy service, listed and revoked here. Both are directory events.
 */
@Controller('v1/standing-approvals')
export class StandingApprovalsController {
  constructor(
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    private readonly directory: IdentityDirectory,
  ) {}

  /** Active ones; `?all=true` also lists expired and revoked ones (audit). */
  @Get()
  @Auth('viewer')
  list(@Query() query: Record<string, string>): { items: StandingApprovalView[] } {
    const q = parseBody(ListQuery, query);
    const items = q.all === 'true' ? this.directory.allStandingApprovals() : this.directory.standingApprovals();
    return { items: items.sort((a, b) => b.granted_at.localeCompare(a.granted_at)) };
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @Auth('approver')
  async revoke(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: AuthedRequest,
  ): Promise<{ standing_id: string; revoked: true }> {
    const b = parseBody(RevokeBody, body);
    const s = this.directory.allStandingApprovals().find((x) => x.standing_id === id);
    if (!s) throw new DomainError('STANDING.NOT_FOUND', 'no such standing approval');
    if (s.revoked_at) throw new DomainError('STANDING.ALREADY_REVOKED', 'standing approval is already revoked');
    await this.publisher.publishEvent(
      makeEnvelope({
        type: 'standing_approval_revoked',
        runId: null,
        correlationId: id,
        producer: 'approvals',
        traceId: newTraceId(),
        data: { standing_id: id, by: req.principal!.name, ...(b.reason ? { reason: b.reason } : {}) },
      }),
    );
    return { standing_id: id, revoked: true };
  }
}
