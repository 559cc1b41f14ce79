import { Inject, Injectable } from '@nestjs/common';
import type { FieldError, TaskSubmission } from '@warden/contracts';
import { Logger } from '@warden/observability';
import { LOGGER } from '@warden/runtime';
import { screenAtEdge } from '../domain/admission.decide';
import { parseSubmission, type SubmissionSource } from '../domain/submission';
import { SubmissionBatcher } from '../submission.batcher';
import { ingestMetrics } from '../submission.metrics';
import { SubmissionService } from '../submission.service';

/** What an HTTP submission came to, ready to be answered. */
export type HttpIntakeResult =
  | { kind: 'accepted'; runId: string }
  | { kind: 'duplicate'; runId: string }
  /** 400 (invalid), 403 (outside the key's binding), 409 (run_id in use), 413 (too large): nothing was written or published. */
  | { kind: 'refused'; status: 400 | 403 | 409 | 413; code: string; errors: FieldError[] }
  /** Postgres or JetStream did not answer: nothing was acknowledged, retry (same idempotency key). */
  | { kind: 'unavailable'; error: Error };

/**
 * The HTTP and webhook edge of the submission pipeline. Validation happens here, so an invalid request
 * is answered 400 without publishing anything (the caller has the errors in the answer). A valid one
 * goes through the same `SubmissionService` as the bus (dedupe row + `task_received`, the event acked by
 * JetStream before the row commits), batched with concurrent requests; the answer comes only after
 * that commit, so a 202 is as durable as a PubAck.
 */
@Injectable()
export class HttpIntakeService {
  private readonly batcher: SubmissionBatcher;
  private readonly log: Logger;

  constructor(@Inject(SubmissionService) submissions: SubmissionService, @Inject(LOGGER) logger: Logger) {
    this.batcher = new SubmissionBatcher((items) => submissions.submitAll(items));
    this.log = logger.child('http-intake');
  }

  /**
   * Validates `body`, then submits it under the source `sourceFor` names for it. Never throws.
   * `outsideBinding` returns the field errors that put a valid submission outside the caller's key
   * binding: then it is refused `403` (`KEY.AGENT_MISMATCH`) before anything is stored or published.
   */
  async submit(
    channel: 'http' | 'webhook' | 'mcp',
    body: Uint8Array,
    sourceFor: (s: TaskSubmission) => SubmissionSource,
    outsideBinding?: (s: TaskSubmission) => FieldError[],
  ): Promise<HttpIntakeResult> {
    const screened = screenAtEdge(parseSubmission(body), outsideBinding);
    if (screened.kind === 'refused') {
      ingestMetrics.submissions.inc({ channel, outcome: 'rejected' });
      ingestMetrics.rejections.inc({ channel, reason: screened.reason });
      return { kind: 'refused', status: screened.status, code: screened.code, errors: screened.errors };
    }
    try {
      const outcome = await this.batcher.submit({
        source: sourceFor(screened.submission),
        body,
        parsed: screened.submission,
      });
      switch (outcome.kind) {
        case 'accepted':
        case 'redelivered':
          return { kind: 'accepted', runId: outcome.runId };
        case 'duplicate':
          return { kind: 'duplicate', runId: outcome.runId };
        case 'rejected':
          return { kind: 'refused', status: 409, code: 'SUBMISSION.RUN_ID_CONFLICT', errors: outcome.errors };
      }
    } catch (err) {
      this.log.warn('submission could not be handed off', { channel, error: err as Error });
      return { kind: 'unavailable', error: err as Error };
    }
  }
}
