import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Envelope, FieldError, TaskSubmission } from '@warden/contracts';
import { Publisher } from '@warden/bus';
import { TransientError, systemClock, type Clock } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { simpleTransaction } from '@warden/persistence';
import { DATA_SOURCE, LOGGER, PUBLISHER } from '@warden/runtime';
import {
  decideAdmission,
  screenSubmission,
  type Admissible,
  type AdmissionDecision,
  type Refused,
} from './domain/admission.decide';
import { insertedMask, rejectionToken, traceIdFor, type SubmissionSource } from './domain/submission';
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
type Refusal = Pick<Refused, 'reason' | 'errors' | 'agentId'> & { index: number; source: SubmissionSource };

/** A valid submission (its row and event) and its place in the batch. */
type Admission = Admissible & { index: number };

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
    const refusals: (Refused & { index: number; source: SubmissionSource })[] = [];
    const admissions: Admission[] = [];
    items.forEach(({ source, body, parsed }, index) => {
      const screened = screenSubmission(source, body, parsed, now);
      if (screened.kind === 'refused') refusals.push({ ...screened, index, source });
      else admissions.push({ ...screened, index });
    });
    // rejections need no row: they leave while the transaction runs
    await Promise.all([this.refuse(refusals, results), this.admit(admissions, now, results)]);
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
  private async refuse(
    refusals: readonly (Refused & { index: number; source: SubmissionSource })[],
    results: IntakeResult[],
  ): Promise<void> {
    if (refusals.length === 0) return;
    const envs = refusals.map((r) => r.publish);
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
      const rows = admissions.map((a) => a.row);
      // BEGIN and the insert in one round trip; then what the decision needs: which rows went in, and
      // the stored rows the others collided with
      settled = await simpleTransaction(this.ds, SubmissionRepository.insertText(rows), async (em, [insert]) => {
        const inserted = insert!.rows.map((r) => String(r.event_id));
        const mask = insertedMask(rows, inserted);
        const skipped = rows.filter((_, i) => !mask[i]);
        const stored = skipped.length > 0 ? await this.repo.conflicting(em, skipped) : [];
        const decisions = decideAdmission(admissions, { insertedEventIds: inserted, stored }, now);
        // publish before the commit: a failed publish leaves no row claiming a run that never started
        await this.publishTraced(
          decisions.flatMap((d) => ('publish' in d ? [d.publish] : [])),
          admissions,
        );
        return { result: decisions.map((d, i): Settled => settle(d, admissions[i]!)) };
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

/** A decision as the delivery's outcome (and the refusal to count), or the transient error to retry it with. */
function settle(
  d: AdmissionDecision,
  a: Admission,
): { outcome: IntakeOutcome; refusal?: Refusal } | { error: TransientError } {
  switch (d.kind) {
    case 'accepted':
    case 'redelivered':
      return { outcome: { kind: d.kind, runId: d.runId, eventId: d.eventId } };
    case 'duplicate':
      return { outcome: { kind: 'duplicate', runId: d.runId } };
    case 'refused':
      return {
        outcome: { kind: 'rejected', eventId: d.eventId, token: d.token, errors: d.errors },
        refusal: { index: a.index, source: a.source, reason: d.reason, errors: d.errors, agentId: d.agentId },
      };
    case 'retry':
      return { error: new TransientError(d.message) };
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
