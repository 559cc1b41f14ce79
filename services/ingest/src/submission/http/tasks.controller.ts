import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { newId } from '@warden/kernel';
import { Logger, currentTraceparent } from '@warden/observability';
import { Auth, LOGGER, sendProblem, type AuthedRequest, type RawBodyRequest } from '@warden/runtime';
import { UNBOUND_KEY_WARNING, bindingErrors } from '@warden/identity';
import { RateLimiter } from '../../api/rate-limiter';
import type { AcceptedResponse, DuplicateResponse } from './submission.schemas';
import { KeysService } from '../../keys/keys.service';
import { httpSource } from '../domain/submission';
import { ingestMetrics } from '../submission.metrics';
import { HttpIntakeService, type HttpIntakeResult } from './http-intake.service';

/** JSON or no declared type at all (`application/json; charset=utf-8`, `application/x+json` too). */
const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;.*)?$/i;

/** How often one replica logs that an unbound key is in use, at most, per key. */
const UNBOUND_LOG_INTERVAL_MS = 60_000;

/**
 * `POST /v1/tasks` (CONTRACT §3): API key → rate limit → body (read as a stream, 413 over 256 KiB,
 * before this handler runs) → validation → the key's binding (403 for another agent or role) → the
 * shared submission pipeline. An unbound (legacy) key is still served, with a deprecation warning.
 */
@Controller('v1/tasks')
export class TasksController {
  private readonly log: Logger;
  private readonly unboundLogged = new Map<string, number>();

  constructor(
    @Inject(HttpIntakeService) private readonly intake: HttpIntakeService,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
    @Inject(KeysService) private readonly keys: KeysService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('tasks');
  }

  @Post()
  @Auth({ apiKey: true })
  async submit(@Req() req: Request & AuthedRequest & RawBodyRequest, @Res() res: Response): Promise<void> {
    const principal = req.principal!;
    this.keys.touch(principal.id);
    if (!principal.binding) this.warnUnbound(res, principal.id);
    const rate = await this.limiter.take(principal.id);
    if (!rate.allowed) {
      ingestMetrics.rateLimited.inc();
      return sendProblem(res, 'INGEST.RATE_LIMITED', 'this API key is over its rate limit', {
        retryAfterSeconds: rate.retryAfterSeconds,
      });
    }
    const type = req.headers['content-type'];
    if (type !== undefined && !JSON_TYPE.test(type))
      return sendProblem(res, 'INGEST.UNSUPPORTED_MEDIA_TYPE', `content-type must be application/json, not ${type}`);
    if (!req.rawBody) return sendProblem(res, 'INGEST.NO_RAW_BODY', 'the input gate is not installed');
    const requestId = newId();
    // the HTTP server span's context when traced: the run continues the request's trace
    const traceparent = currentTraceparent(
      typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined,
    );
    const result = await this.intake.submit(
      'http',
      req.rawBody,
      (submission) =>
        httpSource({
          requestId,
          submission,
          traceparent,
          submittedBy: { kind: 'api_key', id: principal.id, ...(principal.owner ? { owner: principal.owner } : {}) },
        }),
      (submission) => bindingErrors(principal, submission.agent),
    );
    answer(res, result);
  }

  /** `Deprecation` + `Warning` on the answer, and (at most once a minute per key) a log line naming the key id. */
  private warnUnbound(res: Response, keyId: string): void {
    res.setHeader('Deprecation', 'true');
    res.setHeader('Warning', UNBOUND_KEY_WARNING);
    const now = Date.now();
    const last = this.unboundLogged.get(keyId);
    if (last !== undefined && now - last < UNBOUND_LOG_INTERVAL_MS) return;
    this.unboundLogged.set(keyId, now);
    this.log.warn('deprecated: API key is not bound to an agent; bind it (POST /v1/keys with agent)', {
      key_id: keyId,
    });
  }
}

type Accepted = z.output<typeof AcceptedResponse>;
type Duplicate = z.output<typeof DuplicateResponse>;

/** The HTTP answer for an intake result (shared with the webhook route). */
export function answer(res: Response, result: HttpIntakeResult): void {
  switch (result.kind) {
    case 'accepted':
      res.status(202).json({ run_id: result.runId, status: 'received', duplicate: false } satisfies Accepted);
      return;
    case 'duplicate':
      res.status(200).json({ run_id: result.runId, duplicate: true } satisfies Duplicate);
      return;
    case 'refused':
      return sendProblem(
        res,
        result.code,
        result.errors
          .slice(0, 5)
          .map((e) => `${e.path || '(root)'}: ${e.message}`)
          .join('; ') + (result.errors.length > 5 ? `; and ${result.errors.length - 5} more` : ''),
        { errors: result.errors },
      );
    case 'unavailable':
      return sendProblem(res, 'INGEST.UNAVAILABLE', 'the submission could not be stored; retry', {
        retryAfterSeconds: 1,
      });
  }
}
