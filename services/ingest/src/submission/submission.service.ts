import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { FieldError } from '@warden/contracts';
import { Publisher } from '@warden/bus';
import { TransientError, systemClock, type Clock } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { DATA_SOURCE, LOGGER, PUBLISHER } from '@warden/runtime';
import {
  classifyConflict,
  parseSubmission,
  receivedEnvelope,
  rejectedEnvelope,
  rejectionToken,
  type RejectReason,
  type SubmissionSource,
} from './domain/submission';
import { SubmissionRepository } from './projections/submission.repository';
import { ingestMetrics } from './submission.metrics';

/** What became of one delivery. */
export type IntakeOutcome =
  | { kind: 'accepted'; runId: string; eventId: string }
  /** This very delivery was accepted before (crash before ack); its event was published again, same id. */
  | { kind: 'redelivered'; runId: string; eventId: string }
  /** Same agent + idempotency key as an earlier run: nothing new, `runId` is the first run's. */
  | { kind: 'duplicate'; runId: string }
  | { kind: 'rejected'; eventId: string; token: string; errors: FieldError[] };

export const CLOCK = Symbol('CLOCK');

/**
 * Turns a raw submission into exactly one run: validates it, dedupes it against `ingest.submissions`
 * and publishes `task_received` (or `task_rejected`). Every id comes from the delivery, so handling the
 * same delivery again publishes the same ids and the broker drops the copies.
 */
@Injectable()
export class SubmissionService {
  private readonly log: Logger;

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(LOGGER) logger: Logger,
    private readonly repo: SubmissionRepository,
    @Inject(CLOCK) private readonly clock: Clock = systemClock,
  ) {
    this.log = logger.child('submission');
  }

  /** Handles one delivery. Throws only transient errors (retry); invalid input ends as `rejected`. */
  async submit(source: SubmissionSource, body: Uint8Array): Promise<IntakeOutcome> {
    const parsed = parseSubmission(body);
    if (!parsed.ok) return this.reject(source, parsed.reason, parsed.errors, parsed.agentId);

    const { submission } = parsed;
    const received = receivedEnvelope(submission, source, this.clock.now());
    const runId = received.run_id!;
    const candidate = {
      runId,
      eventId: received.id,
      agentId: submission.agent.id,
      idempotencyKey: submission.idempotency_key ?? null,
    };
    // the row and the publish commit together: a failed publish leaves no row claiming a run that
    // never started, and a crash after publish re-runs this with the same event id (broker dedupes)
    const outcome = await this.ds.transaction(
      async (em): Promise<IntakeOutcome | { kind: 'run_id_in_use'; errors: FieldError[] }> => {
        const inserted = await this.repo.insert(em, [
          {
            ...candidate,
            traceId: received.trace_id,
            sourceStream: source.stream ?? null,
            sourceSeq: source.seq ?? null,
            createdAt: new Date(received.occurred_at),
          },
        ]);
        if (inserted === 1) {
          await this.publisher.publishEvent(received);
          return { kind: 'accepted', runId, eventId: received.id };
        }
        const existing = await this.repo.conflicting(em, candidate);
        // the row we collided with is gone (a rebuild emptied the table meanwhile): try again later
        if (existing.length === 0)
          throw new TransientError(`submission for run ${runId} collided with a row that vanished`);
        const conflict = classifyConflict({ ...candidate, idempotencyKey: submission.idempotency_key }, existing);
        switch (conflict.kind) {
          case 'redelivery':
            // same occurred_at as the first attempt, so the republished event is the same event
            await this.publisher.publishEvent(receivedEnvelope(submission, source, conflict.existing.createdAt));
            return { kind: 'redelivered', runId, eventId: received.id };
          case 'duplicate':
            return { kind: 'duplicate', runId: conflict.existing.runId };
          case 'run_id_in_use':
            return conflict;
        }
      },
    );

    switch (outcome.kind) {
      case 'accepted':
        ingestMetrics.submissions.inc({ channel: source.channel, outcome: 'accepted' });
        this.log.debug('submission accepted', {
          run_id: runId,
          agent_id: candidate.agentId,
          source_id: source.sourceId,
        });
        return outcome;
      case 'redelivered':
        this.log.debug('submission redelivered; task_received republished', { run_id: runId, event_id: received.id });
        return outcome;
      case 'duplicate':
        ingestMetrics.submissions.inc({ channel: source.channel, outcome: 'duplicate' });
        ingestMetrics.duplicates.inc({ channel: source.channel });
        this.log.debug('duplicate submission dropped', {
          run_id: outcome.runId,
          agent_id: candidate.agentId,
          idempotency_key: candidate.idempotencyKey,
          source_id: source.sourceId,
        });
        return outcome;
      case 'run_id_in_use':
        return this.reject(source, 'run_id_in_use', outcome.errors, candidate.agentId);
      case 'rejected':
        return outcome;
    }
  }

  private async reject(
    source: SubmissionSource,
    reason: RejectReason,
    errors: FieldError[],
    agentId: string | undefined,
  ): Promise<IntakeOutcome> {
    const env = rejectedEnvelope(errors, source, agentId, this.clock.now());
    await this.publisher.publishEvent(env);
    ingestMetrics.submissions.inc({ channel: source.channel, outcome: 'rejected' });
    ingestMetrics.rejections.inc({ channel: source.channel, reason });
    this.log.debug('submission rejected', {
      reason,
      source_id: source.sourceId,
      agent_id: agentId,
      errors: errors.slice(0, 5),
    });
    return { kind: 'rejected', eventId: env.id, token: rejectionToken(source), errors };
  }
}
