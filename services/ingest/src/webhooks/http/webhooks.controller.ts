import { Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { currentTraceparent } from '@warden/observability';
import { sendProblem, type RawBodyRequest } from '@warden/runtime';
import { answer } from '../../submission/http/tasks.controller';
import { WebhooksService } from '../webhooks.service';

const header = (req: Request, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** `POST /v1/webhooks/:source`: a Standard Webhooks delivery whose body is a TaskSubmission. */
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(@Inject(WebhooksService) private readonly webhooks: WebhooksService) {}

  @Post(':source')
  async deliver(@Param('source') source: string, @Req() req: Request & RawBodyRequest, @Res() res: Response) {
    if (!req.rawBody) return sendProblem(res, 'INGEST.NO_RAW_BODY', 'the input gate is not installed');
    const result = await this.webhooks.deliver(
      source,
      {
        id: header(req, 'webhook-id'),
        timestamp: header(req, 'webhook-timestamp'),
        signature: header(req, 'webhook-signature'),
      },
      req.rawBody,
      currentTraceparent(header(req, 'traceparent')),
    );
    switch (result.kind) {
      case 'unauthenticated':
        return sendProblem(res, 'WEBHOOK.UNAUTHENTICATED', describe(result.reason));
      case 'replayed':
        res.status(200).json({ run_id: result.runId, duplicate: true });
        return;
      default:
        return answer(res, result);
    }
  }
}

function describe(reason: string): string {
  switch (reason) {
    case 'missing_headers':
      return 'webhook-id, webhook-timestamp and webhook-signature are required';
    case 'bad_timestamp':
      return 'webhook-timestamp must be integer seconds since the epoch';
    case 'stale':
      return 'webhook-timestamp is more than 5 minutes old';
    case 'future':
      return 'webhook-timestamp is more than 5 minutes ahead';
    default:
      return 'unknown source or no valid signature';
  }
}
