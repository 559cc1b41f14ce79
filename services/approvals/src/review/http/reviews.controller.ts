import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '@warden/kernel';
import { Auth, type AuthedRequest, parseBody } from '@warden/runtime';
import { ReviewService, type ReviewView } from '../review.service';

export const ListQuery = z.strictObject({
  status: z.enum(['pending', 'fine', 'flagged']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const ResolveBody = z.strictObject({ comment: z.string().max(2000).optional() });

/** `/v1/reviews`: act now, review later. */
@Controller('v1/reviews')
export class ReviewsController {
  constructor(private readonly reviews: ReviewService) {}

  @Get()
  @Auth('viewer')
  list(@Query() query: Record<string, string>): Promise<{ items: ReviewView[] }> {
    return this.reviews.list(parseBody(ListQuery, query));
  }

  @Get(':id')
  @Auth('viewer')
  async get(@Param('id') id: string): Promise<ReviewView> {
    const r = await this.reviews.get(id);
    if (!r) throw new DomainError('REVIEW.NOT_FOUND', 'no such review item');
    return r;
  }

  @Post(':id/fine')
  @HttpCode(200)
  @Auth('approver')
  fine(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<ReviewView> {
    const b = parseBody(ResolveBody, body);
    return this.reviews.resolve({ reviewId: id, verdict: 'fine', principal: req.principal!, comment: b.comment });
  }

  @Post(':id/flag')
  @HttpCode(200)
  @Auth('approver')
  flag(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<ReviewView> {
    const b = parseBody(ResolveBody, body);
    return this.reviews.resolve({ reviewId: id, verdict: 'flagged', principal: req.principal!, comment: b.comment });
  }
}
