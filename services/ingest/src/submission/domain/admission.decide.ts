import type { Envelope, FieldError, TaskSubmission } from '@warden/contracts';
import {
  parseSubmission,
  receivedEnvelope,
  rejectedEnvelope,
  rejectionToken,
  resolveBatch,
  subjectRoleErrors,
  type ExistingSubmission,
  type ParsedSubmission,
  type RejectReason,
  type SubmissionSource,
} from './submission';

/** The dedupe row (`ingest.submissions`) a valid submission writes: one run per row. */
export interface SubmissionRecord {
  runId: string;
  agentId: string;
  idempotencyKey: string | null;
  traceId: string;
  sourceStream: string | null;
  sourceSeq: number | null;
  eventId: string;
  createdAt: Date;
}

/** A refusal of a submission, with the `task_rejected` event that tells its sender. */
export interface Refused {
  kind: 'refused';
  reason: RejectReason;
  errors: FieldError[];
  agentId: string | undefined;
  publish: Envelope<'task_rejected'>;
}

/** A valid submission, with the row it would write and the `task_received` event it would publish. */
export interface Admissible {
  kind: 'admissible';
  source: SubmissionSource;
  submission: TaskSubmission;
  received: Envelope<'task_received'>;
  row: SubmissionRecord;
}

/**
 * The first look at a delivery, before anything is stored: refused when the bytes are not a valid
 * submission (too large, malformed, invalid) or it names a role other than its bus subject's;
 * otherwise admissible, with its row and `task_received` (every id derived from the delivery).
 * `given` is the submission the HTTP edge has validated already (the bytes are not parsed twice).
 */
export function screenSubmission(
  source: SubmissionSource,
  body: Uint8Array,
  given: TaskSubmission | undefined,
  now: Date,
): Refused | Admissible {
  const parsed = given ? { ok: true as const, submission: given } : parseSubmission(body);
  if (!parsed.ok) return refused(source, parsed.reason, parsed.errors, parsed.agentId, now);
  const { submission } = parsed;
  const outside = subjectRoleErrors(submission, source);
  if (outside.length > 0) return refused(source, 'role_mismatch', outside, submission.agent.id, now);
  const received = receivedEnvelope(submission, source, now);
  return {
    kind: 'admissible',
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
  };
}

function refused(
  source: SubmissionSource,
  reason: RejectReason,
  errors: FieldError[],
  agentId: string | undefined,
  now: Date,
): Refused {
  return { kind: 'refused', reason, errors, agentId, publish: rejectedEnvelope(errors, source, agentId, now) };
}

/**
 * What the batch's `INSERT … ON CONFLICT DO NOTHING` found: the event ids of the rows it wrote, and
 * the stored rows that the candidates it skipped collided with (read in the same transaction).
 */
export interface AdmissionState {
  insertedEventIds: readonly string[];
  stored: readonly ExistingSubmission[];
}

/** What becomes of one admissible submission once its row was tried. */
export type AdmissionDecision =
  /** A new run: publish its `task_received`. */
  | { kind: 'accepted'; runId: string; eventId: string; publish: Envelope<'task_received'> }
  /** This very bus delivery was admitted before (crash before ack): publish the same event again. */
  | { kind: 'redelivered'; runId: string; eventId: string; publish: Envelope<'task_received'> }
  /** An earlier submission holds this (agent, idempotency key), or the same HTTP/webhook/MCP delivery was answered: its run stands. */
  | { kind: 'duplicate'; runId: string }
  /** The client's run_id belongs to another submission: refused on `run_id`, `task_rejected` published. */
  | (Omit<Refused, 'reason'> & { reason: 'run_id_in_use'; eventId: string; token: string })
  /** It collided with a row that is gone now (a rebuild emptied the table): retry the delivery. */
  | { kind: 'retry'; message: string };

/**
 * Decides each admissible submission of a batch, in order, from what the insert found (see
 * {@link resolveBatch}): inserted → accepted; its own earlier row → redelivered on the bus (the event
 * again, with the first attempt's `occurred_at` so it is the same event), but a duplicate over HTTP,
 * webhook or MCP (there the row proves the event was acked, so the repeat is the caller's); same agent
 * + idempotency key → duplicate of that run; the client's run_id held by another submission →
 * refused `run_id_in_use`; a collision with a vanished row → retry.
 */
export function decideAdmission(
  candidates: readonly Admissible[],
  state: AdmissionState,
  now: Date,
): AdmissionDecision[] {
  const rows = candidates.map((c) => c.row);
  const resolutions = resolveBatch(rows, state.insertedEventIds, state.stored);
  return candidates.map((c, i): AdmissionDecision => {
    const runId = c.row.runId;
    const eventId = c.received.id;
    const r = resolutions[i]!;
    switch (r.kind) {
      case 'inserted':
        return { kind: 'accepted', runId, eventId, publish: c.received };
      case 'redelivery':
        if (c.source.channel !== 'bus') return { kind: 'duplicate', runId: r.existing.runId };
        return {
          kind: 'redelivered',
          runId,
          eventId,
          publish: receivedEnvelope(c.submission, c.source, r.existing.createdAt),
        };
      case 'duplicate':
        return { kind: 'duplicate', runId: r.existing.runId };
      case 'run_id_in_use': {
        const refusal = refused(c.source, 'run_id_in_use', r.errors, c.row.agentId, now);
        return {
          ...refusal,
          reason: 'run_id_in_use',
          eventId: refusal.publish.id,
          token: rejectionToken(c.source),
        };
      }
      case 'vanished':
        return { kind: 'retry', message: `submission for run ${runId} collided with a row that vanished` };
    }
  });
}

/** How the HTTP, webhook and MCP edge refuses a submission before anything is stored or published. */
export interface EdgeRefusal {
  kind: 'refused';
  status: 400 | 403 | 413;
  code: 'SUBMISSION.TOO_LARGE' | 'VALIDATION.FAILED' | 'KEY.AGENT_MISMATCH';
  reason: RejectReason;
  errors: FieldError[];
}

/**
 * The edge's own refusals: too large → 413 `SUBMISSION.TOO_LARGE`; not a valid submission → 400
 * `VALIDATION.FAILED`; valid but outside the caller's key binding (`outsideBinding` names the fields)
 * → 403 `KEY.AGENT_MISMATCH`. Otherwise the submission passes on to be admitted.
 */
export function screenAtEdge(
  parsed: ParsedSubmission,
  outsideBinding?: (s: TaskSubmission) => FieldError[],
): EdgeRefusal | { kind: 'pass'; submission: TaskSubmission } {
  if (!parsed.ok) {
    return parsed.reason === 'too_large'
      ? { kind: 'refused', status: 413, code: 'SUBMISSION.TOO_LARGE', reason: parsed.reason, errors: parsed.errors }
      : { kind: 'refused', status: 400, code: 'VALIDATION.FAILED', reason: parsed.reason, errors: parsed.errors };
  }
  const outside = outsideBinding?.(parsed.submission) ?? [];
  if (outside.length > 0)
    return { kind: 'refused', status: 403, code: 'KEY.AGENT_MISMATCH', reason: 'agent_mismatch', errors: outside };
  return { kind: 'pass', submission: parsed.submission };
}
