import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '@warden/kernel';
import { Auth, type AuthedRequest, parseBody } from '@warden/runtime';
import { SOURCE_NAME, WebhooksService } from '../webhooks.service';
import type { CreatedSourceResponse, SourcesResponse } from './sources.schemas';

const Name = z.string().regex(SOURCE_NAME, 'must be 1-63 lowercase letters, digits, - or _ (and not "sources")');
export const CreateSource = z.strictObject({ name: Name });
export const RotateSource = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .optional(),
});

function sourceName(name: string): string {
  if (!SOURCE_NAME.test(name)) throw new DomainError('WEBHOOK_SOURCE.NOT_FOUND', 'no such source');
  return name;
}

/** Webhook sources (admin). Registered before the delivery route so `/v1/webhooks/sources` is never a source. */
@Controller('v1/webhooks/sources')
@Auth('admin')
export class SourcesController {
  constructor(@Inject(WebhooksService) private readonly webhooks: WebhooksService) {}

  /** Creates a source; the answer is the only time its secret is shown. */
  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthedRequest): Promise<z.output<typeof CreatedSourceResponse>> {
    return this.webhooks.createSource(parseBody(CreateSource, body).name, req.principal!);
  }

  @Get()
  async list(): Promise<z.output<typeof SourcesResponse>> {
    return { sources: await this.webhooks.listSources() };
  }

  /** A new secret; the previous one stays valid for the grace period (default 24 h). */
  @Post(':name/rotate')
  @HttpCode(200)
  rotate(@Param('name') name: string, @Body() body: unknown, @Req() req: AuthedRequest) {
    return this.webhooks.rotateSource(sourceName(name), req.principal!, parseBody(RotateSource, body).grace_seconds);
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string, @Req() req: AuthedRequest): Promise<void> {
    await this.webhooks.deleteSource(sourceName(name), req.principal!);
  }
}
