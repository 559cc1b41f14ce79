import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { z } from 'zod';
import { MAX_PLAN_ITEMS } from '@warden/contracts';
import { DomainError } from '@warden/kernel';
import { Auth, type AuthedRequest, parseBody } from '@warden/runtime';
import { PlanService, type PlanVoteResult } from '../plan.service';
import type { PlanView } from '../projections/plan.repository';

const ListQuery = z.strictObject({
  status: z.enum(['pending']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

/** `POST /v1/plans/:id/votes`: approve all, or a subset by index; the rest are rejected unless `rest: "pending"`. */
export const PlanVoteBody = z.strictObject({
  approve: z.union([
    z.literal('all'),
    z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(MAX_PLAN_ITEMS - 1),
      )
      .max(MAX_PLAN_ITEMS),
  ]),
  rest: z.enum(['reject', 'pending']).default('reject'),
  comment: z.string().max(2000).optional(),
});

const Channel = z.enum(['rest', 'cli', 'dashboard']);

/** `/v1/plans`: a plan's escalated items as one approval. The operator is the token's, never the body's. */
@Controller('v1/plans')
export class PlansController {
  constructor(@Inject(PlanService) private readonly plans: PlanService) {}

  @Get()
  @Auth('viewer')
  async list(@Query() query: Record<string, string>): Promise<{ items: PlanView[] }> {
    return { items: await this.plans.list(parseBody(ListQuery, query)) };
  }

  @Get(':id')
  @Auth('viewer')
  async get(@Param('id') id: string): Promise<PlanView> {
    const p = await this.plans.get(id);
    if (!p) throw new DomainError('PLAN.NOT_FOUND', 'no such plan');
    return p;
  }

  @Post(':id/votes')
  @HttpCode(200)
  @Auth('approver')
  async vote(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<PlanVoteResult> {
    const b = parseBody(PlanVoteBody, body);
    const c = Channel.safeParse(req.headers['x-warden-channel']);
    return this.plans.vote(
      id,
      req.principal!,
      { approve: b.approve, rest: b.rest },
      c.success ? c.data : 'rest',
      b.comment,
    );
  }
}
