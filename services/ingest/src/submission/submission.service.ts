import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Envelope, FieldError, TaskSubmission } from '@warden/contracts';
import { Publisher } from '@warden/bus';
import { TransientError, systemClock, type Clock } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { DATA_SOURCE, LOGGER, PUBLISHER } from '@warden/runtime';
import {
  insertedMask,
  parseSubmission,
  receivedEnvelope,
  rejectedEnvelope,
  rejectionToken,
  resolveBatch,
  subjectRoleErrors,
  traceIdFor,
  type RejectReason,
  type SubmissionSource,
} from './domain/submission';
import { SubmissionRepository, type SubmissionRow } from './projections/submission.repository';
import { ingestMetrics } from './submission.metrics';

/** What became of one delivery. */
export type IntakeOutcome =
  | { kind: 'accepted'; runId: string; eventId: string }
  /** This very delivery was accepted before (crash before ack); its event was published again, same id. */
  | { kind: 'redelivered'; runId: string; eventId: string }
  /** Same agent + idempotency key as an earlier run: nothing new, `runId` is the first run's. */
  | { kind: 'duplicate'; runId: string }
  | { kind: 'rejected'; eventId: string; token: string; errors: FieldError[] };

/** One delivery to take in. */
export interface IntakeItem {
  source: SubmissionSource;
  body: Uint8Array;
  /** The body already validated by the caller (the HTTP edge), so it is not parsed twice. */
  parsed?: TaskSubmission;
}

/** Per delivery: its outcome, or the (transient) error that kept it from one; retry those. */
export type IntakeResult = PromiseSettledResult<IntakeOutcome>;

export const CLOCK = Symbol('CLOCK');

/** A submission refused before it reached the table, or on its run id inside the transaction. */
interface Refusal {
  index: number;
  source: SubmissionSource;
  reason: RejectReason;
  errors: FieldError[];
  agentId: string | undefined;
}

/** A valid submission and the row and event it would create. */
interface Admission {
  index: number;
  source: SubmissionSource;
  submission: TaskSubmission;
  received: Envelope<'task_received'>;
  row: SubmissionRow;
}

/**
 * Turns raw submissions into exactly one run each: validates them, dedupes them against
 * `ingest.submissions` and publishes `task_received` (or `task_rejected`). Every id comes from the
 * delivery, so handling the same delivery again publishes the same ids and the broker drops the copies.
 * Works on batches (one transaction and one pipelined publish per batch); a single submission is a
 * batch of one.
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
    const [result] = await this.submitAll([{ source, body }]);
    if (result!.status === 'rejected') throw result!.reason;
    return result!.value;
  }

  /**
   * Handles many deliveries at once and settles each, in order. Invalid ones are rejected with one
   * pipelined publish; the valid ones go through one transaction (multi-row insert, one lookup of the
   * rows they collided with) whose events are published before it commits, so a failed publish leaves
   * no row claiming a run that never started and fails only the valid ones (retry: same ids).
   * Deliveries that collide within the batch resolve as if handled one after the other: of several
   * with the same agent + idempotency key the first is the run, the others its duplicates.
   */
  async submitAll(items: readonly IntakeItem[]): Promise<IntakeResult[]> {
    const now = this.clock.now();
    const results: IntakeResult[] = new Array(items.length);
    const refusals: Refusal[] = [];
    const admissions: Admission[] = [];
    items.forEach(({ source, body, parsed: given }, index) => {
      const parsed = given ? { ok: true as const, submission: given } : parseSubmission(body);
      if (!parsed.ok) {
        refusals.push({ index, source, reason: parsed.reason, errors: parsed.errors, agentId: parsed.agentId });
        return;
      }
      const { submission } = parsed;
      const outside = subjectRoleErrors(submission, source);
      if (outside.length > 0) {
        refusals.push({ index, source, reason: 'role_mismatch', errors: outside, agentId: submission.agent.id });
        return;
      }
      const received = receivedEnvelope(submission, source, now);
      admissions.push({
        index,
        source,
        submission,
        received,
        row: {
          runId: received.run_id!,
          eventId: received.id,
          agentId: submission.agent.id,
          idempotencyKey: submission.idempotency_key ?? null,
          traceId: received.trace_id,
          sourceStream: source.stream ?? null,
          sourceSeq: source.seq ?? null,
          createdAt: now,
        },
      });
    });
    // rejections need no row: they leave while the transaction runs
    await Promise.all([this.refuse(refusals, now, results), this.admit(admissions, now, results)]);
    return results;
  }

  /**
   * Publishes `envs` (pipelined), each publish span under its submission's own context: a batch of
   * HTTP submissions is published from one request's context, not from each one's.
   */
  private publishTraced(envs: Envelope[], from: readonly { source: SubmissionSource }[]): Promise<unknown> {
    const parents = new Map(from.map((f) => [traceIdFor(f.source), f.source.traceparent]));
    return this.publisher.publishAll(
      envs.map((e) => ({ ...this.publisher.eventMessage(e), parent: parents.get(e.trace_id) })),
    );
  }

  /** Publishes the rejections of `refusals` together and settles them in `results`. */
  private async refuse(refusals: readonly Refusal[], now: Date, results: IntakeResult[]): Promise<void> {
    if (refusals.length === 0) return;
    const envs = refusals.map((r) => rejectedEnvelope(r.errors, r.source, r.agentId, now));
    try {
      await this.publishTraced(envs, refusals);
    } catch (err) {
      for (const r of refusals) results[r.index] = { status: 'rejected', reason: err };
      return;
    }
    refusals.forEach((r, i) => (results[r.index] = { status: 'fulfilled', value: this.rejected(r, envs[i]!.id) }));
  }

  /** Inserts, dedupes and publishes the valid submissions in one transaction; settles them in `results`. */
  private async admit(
    admissions: readonly Admission[],
    now: Date,
    results: IntakeResult[],
    attempt = 1,
  ): Promise<void> {
    if (admissions.length === 0) return;
    type Settled = { outcome: IntakeOutcome; refusal?: Refusal } | { error: TransientError };
    let settled: Settled[];
    try {
      settled = await this.ds.transaction(async (em): Promise<Settled[]> => {
        const rows = admissions.map((a) => a.row);
        const inserted = await this.repo.insert(em, rows);
        const mask = insertedMask(rows, inserted);
        const skipped = rows.filter((_, i) => !mask[i]);
        const stored = skipped.length > 0 ? await this.repo.conflicting(em, skipped) : [];
        const resolutions = resolveBatch(rows, inserted, stored);
        const envs: Envelope[] = [];
        const out = admissions.map((a, i): Settled => {
          const runId = a.row.runId;
          const eventId = a.received.id;
          const r = resolutions[i]!;
          switch (r.kind) {
            case 'inserted':
              envs.push(a.received);
              return { outcome: { kind: 'accepted', runId, eventId } };
            case 'redelivery':
              // over HTTP the row proves the event was acked (it is published before the commit), so a
              // repeat of the same (agent, key) or webhook id is the caller's duplicate, not our redelivery
              if (a.source.channel !== 'bus') return { outcome: { kind: 'duplicate', runId: r.existing.runId } };
              // same occurred_at as the first attempt, so the republished event is the same event
              envs.push(receivedEnvelope(a.submission, a.source, r.existing.createdAt));
              return { outcome: { kind: 'redelivered', runId, eventId } };
            case 'duplicate':
              return { outcome: { kind: 'duplicate', runId: r.existing.runId } };
            case 'run_id_in_use': {
              const refusal: Refusal = {
                index: a.index,
                source: a.source,
                reason: 'run_id_in_use',
                errors: r.errors,
                agentId: a.row.agentId,
              };
              const env = rejectedEnvelope(r.errors, a.source, refusal.agentId, now);
              envs.push(env);
              return {
                outcome: { kind: 'rejected', eventId: env.id, token: rejectionToken(a.source), errors: r.errors },
                refusal,
              };
            }
            case 'vanished':
              return { error: new TransientError(`submission for run ${runId} collided with a row that vanished`) };
          }
        });
        await this.publishTraced(envs, admissions);
        return out;
      });
    } catch (err) {
      // keys are inserted in one order (see SubmissionRepository.insert), but a client run id shared by
      // two concurrent batches can still cross: Postgres aborted this one, the other one goes on
      if (pgCode(err) === '40P01' && attempt < 2) return this.admit(admissions, now, results, attempt + 1);
      // a row Postgres refuses fails the whole batch: split it until only that submission fails
      if (admissions.length > 1 && isDataError(err)) {
        const half = Math.ceil(admissions.length / 2);
        await this.admit(admissions.slice(0, half), now, results);
        await this.admit(admissions.slice(half), now, results);
        return;
      }
      for (const a of admissions) results[a.index] = { status: 'rejected', reason: err };
      return;
    }
    admissions.forEach((a, i) => {
      const s = settled[i]!;
      if ('error' in s) {
        results[a.index] = { status: 'rejected', reason: s.error };
        return;
      }
      results[a.index] = { status: 'fulfilled', value: s.outcome };
      this.record(a, s.outcome, s.refusal);
    });
  }

  /** Metrics and debug log of a settled valid submission. */
  private record(a: Admission, outcome: IntakeOutcome, refusal: Refusal | undefined): void {
    const { channel, sourceId } = a.source;
    switch (outcome.kind) {
      case 'accepted':
        ingestMetrics.submissions.inc({ channel, outcome: 'accepted' });
        this.log.debug('submission accepted', { run_id: outcome.runId, agent_id: a.row.agentId, source_id: sourceId });
        return;
      case 'redelivered':
        this.log.debug('submission redelivered; task_received republished', {
          run_id: outcome.runId,
          event_id: outcome.eventId,
        });
        return;
      case 'duplicate':
        ingestMetrics.submissions.inc({ channel, outcome: 'duplicate' });
        ingestMetrics.duplicates.inc({ channel });
        this.log.debug('duplicate submission dropped', {
          run_id: outcome.runId,
          agent_id: a.row.agentId,
          idempotency_key: a.row.idempotencyKey,
          source_id: sourceId,
        });
        return;
      case 'rejected':
        this.rejected(refusal!, outcome.eventId);
        return;
    }
  }

  /** Counts and logs a published rejection; returns its outcome. */
  private rejected(r: Refusal, eventId: string): IntakeOutcome {
    ingestMetrics.submissions.inc({ channel: r.source.channel, outcome: 'rejected' });
    ingestMetrics.rejections.inc({ channel: r.source.channel, reason: r.reason });
    this.log.debug('submission rejected', {
      reason: r.reason,
      source_id: r.source.sourceId,
      agent_id: r.agentId,
      errors: r.errors.slice(0, 5),
    });
    return { kind: 'rejected', eventId, token: rejectionToken(r.source), errors: r.errors };
  }
}

/** The SQLSTATE of a Postgres error (as raised by pg, or wrapped by TypeORM). */
function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | undefined;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A Postgres error caused by the data of some row (data exception, constraint, limit), not the connection. */
function isDataError(err: unknown): boolean {
  return /^(22|23|54)/.test(pgCode(err) ?? '');
}
