import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '@warden/kernel';
import { Auth, type AuthedRequest, parseBody } from '@warden/runtime';
import { ApprovalService, type ApprovalView } from '../approval.service';

export const ListQuery = z.strictObject({
  status: z.enum(['pending', 'granted', 'rejected', 'expired']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
const Comment = z.string().max(2000);
export const ApproveBody = z.strictObject({
  comment: Comment.optional(),
  standing: z
    .strictObject({ scope: z.enum(['session', 'agent']), ttl_seconds: z.number().int().positive() })
    .optional(),
});
export const RejectBody = z.strictObject({ comment: Comment.optional(), reason: Comment.optional() });
const Channel = z.enum(['rest', 'cli', 'dashboard']);

/** Where a REST vote came from: `X-Warden-Channel: cli|dashboard` (clients we ship), else `rest`. */
function channelOf(req: AuthedRequest): 'rest' | 'cli' | 'dashboard' {
  const c = Channel.safeParse(req.headers['x-warden-channel']);
  return c.success ? c.data : 'rest';
}

/** `/v1/approvals`: the inbox and voting. The operator is always the token's, never the body's. */
@Controller('v1/approvals')
export class ApprovalsController {
  constructor(private readonly approvals: ApprovalService) {}

  @Get()
  @Auth('viewer')
  async list(@Query() query: Record<string, string>): Promise<{ items: ApprovalView[]; next_cursor?: string }> {
    return this.approvals.list(parseBody(ListQuery, query));
  }

  @Get(':id')
  @Auth('viewer')
  async get(@Param('id') id: string): Promise<ApprovalView> {
    const a = await this.approvals.get(id);
    if (!a) throw new DomainError('APPROVAL.NOT_FOUND', 'no such approval');
    return a;
  }

  @Post(':id/approve')
  @HttpCode(200)
  @Auth('approver')
  async approve(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<ApprovalView> {
    const b = parseBody(ApproveBody, body);
    return this.approvals.vote({
      approvalId: id,
      principal: req.principal!,
      vote: 'approve',
      comment: b.comment,
      channel: channelOf(req),
      standing: b.standing,
    });
  }

  @Post(':id/reject')
  @HttpCode(200)
  @Auth('approver')
  async reject(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<ApprovalView> {
    const b = parseBody(RejectBody, body);
    return this.approvals.vote({
      approvalId: id,
      principal: req.principal!,
      vote: 'reject',
      comment: b.comment ?? b.reason,
      channel: channelOf(req),
    });
  }
}
