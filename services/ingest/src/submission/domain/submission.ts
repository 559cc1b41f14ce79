import { createHash } from 'node:crypto';
import {
  MAX_SUBMISSION_BYTES,
  TaskSubmission,
  decodeJson,
  stringProblem,
  isSubjectToken,
  parseWith,
  type Envelope,
  type FieldError,
} from '@warden/contracts';
import { deriveId } from '@warden/kernel';

/** How a submission reached ingest (a bounded metric label too). */
export type Channel = 'bus' | 'http' | 'webhook' | 'mcp';

/**
 * Why a submission was refused; a bounded metric label. `agent_mismatch`: an API key bound to another
 * agent (HTTP 403); `role_mismatch`: `agent.role` is not the role of the bus subject it came on.
 */
export type RejectReason = 'too_large' | 'malformed' | 'invalid' | 'run_id_in_use' | 'agent_mismatch' | 'role_mismatch';

/**
 * One delivery of a submission. `key` names the delivery stably (stream + sequence on the bus), and
 * every id ingest assigns is derived from it, so a redelivery produces the very same ids.
 */
export interface SubmissionSource {
  channel: Channel;
  key: readonly string[];
  /** Reported as `data.source_id`: the broker message id, else `<stream>:<seq>`. */
  sourceId: string;
  /** Names the rejection subject when it is a valid subject token (the client's Nats-Msg-Id). */
  token?: string;
  traceparent?: string;
  /** Provenance on the bus, kept on the dedupe row. */
  stream?: string;
  seq?: number;
  /** Who handed it in over HTTP (recorded on `task_received` as `submitted_by`). */
  submittedBy?: SubmittedBy;
  /** The role of the per-role bus subject it came on (`warden.ingest.tasks.<role>`): the only role it may name. */
  subjectRole?: string;
}

/** The caller behind an HTTP or webhook submission. */
export interface SubmittedBy {
  kind: 'api_key' | 'webhook';
  id: string;
  owner?: string;
}

/** A source for a JetStream message. */
export function busSource(m: {
  stream: string;
  seq: number;
  msgId?: string;
  traceparent?: string;
  subjectRole?: string;
}): SubmissionSource {
  return {
    ...(m.subjectRole !== undefined ? { subjectRole: m.subjectRole } : {}),
    channel: 'bus',
    key: [m.stream, String(m.seq)],
    sourceId: m.msgId ?? `${m.stream}:${m.seq}`,
    token: m.msgId,
    traceparent: m.traceparent,
    stream: m.stream,
    seq: m.seq,
  };
}

/**
 * A source for `POST /v1/tasks`. With an idempotency key the delivery is named by (agent, key), so a
 * client retrying after a failure we could not answer (the publish was acked, the commit was not)
 * derives the very same run and event ids and the broker drops the copy; without one, every request
 * is its own delivery.
 */
export function httpSource(m: {
  requestId: string;
  submission: Pick<TaskSubmission, 'agent' | 'idempotency_key'>;
  traceparent?: string;
  submittedBy?: SubmittedBy;
}): SubmissionSource {
  const key = m.submission.idempotency_key;
  return {
    channel: 'http',
    key: key !== undefined ? ['http', m.submission.agent.id, key] : ['http', m.requestId],
    sourceId: m.requestId,
    traceparent: m.traceparent,
    submittedBy: m.submittedBy,
  };
}

/**
 * A source for an MCP `tools/call`: named by (agent, idempotency key), the key being derived from the
 * MCP session and the JSON-RPC request id, so a retried request derives the very same run.
 */
export function mcpSource(m: {
  requestId: string;
  submission: Pick<TaskSubmission, 'agent'> & { idempotency_key: string };
  traceparent?: string;
  submittedBy?: SubmittedBy;
}): SubmissionSource {
  return {
    channel: 'mcp',
    key: ['mcp', m.submission.agent.id, m.submission.idempotency_key],
    sourceId: m.requestId,
    traceparent: m.traceparent,
    submittedBy: m.submittedBy,
  };
}

/** A source for an accepted webhook delivery: named by (source, `webhook-id`), so a replay is the same delivery. */
export function webhookSource(m: { source: string; webhookId: string; traceparent?: string }): SubmissionSource {
  return {
    channel: 'webhook',
    key: ['webhook', m.source, m.webhookId],
    sourceId: `${m.source}:${m.webhookId}`,
    traceparent: m.traceparent,
    submittedBy: { kind: 'webhook', id: m.source },
  };
}

export type ParsedSubmission =
  | { ok: true; submission: TaskSubmission }
  | { ok: false; reason: RejectReason; errors: FieldError[]; agentId?: string };

/**
 * Decodes and validates raw submission bytes: size first (256 KiB), then strict UTF-8, JSON, and
 * the `TaskSubmission` schema. Never throws; a refusal carries field errors (path + message) and,
 * when it can be read, the agent id so the rejection can be traced back.
 */
export function parseSubmission(bytes: Uint8Array): ParsedSubmission {
  if (bytes.byteLength > MAX_SUBMISSION_BYTES) {
    return {
      ok: false,
      reason: 'too_large',
      errors: [
        {
          path: '',
          message: `submission is ${bytes.byteLength} bytes; the limit is ${MAX_SUBMISSION_BYTES} bytes (256 KiB)`,
        },
      ],
      agentId: readableAgentId(tryJson(bytes)),
    };
  }
  // the shared input gate: strict UTF-8, JSON, then depth, number range and well-formed strings
  const decoded = decodeJson(bytes);
  if (!decoded.ok)
    return decoded.reason === 'malformed'
      ? { ok: false, reason: 'malformed', errors: decoded.errors }
      : { ok: false, reason: 'invalid', errors: decoded.errors, agentId: readableAgentId(decoded.value) };
  const value = decoded.value;
  const r = parseWith(TaskSubmission, value);
  if (!r.ok) return { ok: false, reason: 'invalid', errors: r.errors, agentId: readableAgentId(value) };
  return { ok: true, submission: r.value };
}

function tryJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

/** `agent.id` when it is a plausible id, so a rejection names whose submission it was. */
export function readableAgentId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const agent = (value as { agent?: unknown }).agent;
  if (typeof agent !== 'object' || agent === null) return undefined;
  const id = (agent as { id?: unknown }).id;
  return typeof id === 'string' && id.length > 0 && id.length <= 200 && !stringProblem(id) ? id : undefined;
}

/**
 * The field error of a submission naming a role other than its subject's: the NATS user that may
 * publish on `warden.ingest.tasks.<role>` speaks for that role only. Empty when it matches, or when
 * it came some other way.
 */
export function subjectRoleErrors(submission: Pick<TaskSubmission, 'agent'>, source: SubmissionSource): FieldError[] {
  if (source.subjectRole === undefined || submission.agent.role === source.subjectRole) return [];
  return [
    {
      path: 'agent.role',
      message: `must be "${source.subjectRole}": this subject takes submissions of role ${source.subjectRole} only`,
    },
  ];
}

/** The client's run id, or one derived from the delivery (stable across redelivery). */
export function runIdFor(submission: TaskSubmission, source: SubmissionSource): string {
  return submission.run_id ?? deriveId('run', ...source.key);
}

/**
 * The trace id of the incoming `traceparent`, else one derived from the delivery: a random one would
 * give a redelivered submission a different trace than its first attempt.
 */
export function traceIdFor(source: SubmissionSource): string {
  const incoming = incomingTraceId(source.traceparent);
  if (incoming) return incoming;
  const hex = createHash('sha256')
    .update(['trace', ...source.key].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
  // an all-zero trace id is invalid in W3C; vanishingly unlikely, but never emit one
  return /^0+$/.test(hex) ? '0'.repeat(31) + '1' : hex;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The trace id of a W3C `traceparent` (version 00, neither id all zeros), else undefined; the rule of
 * `parseTraceparent` in @warden/observability, kept here so the domain needs no observability import.
 */
export function incomingTraceId(traceparent: string | undefined): string | undefined {
  if (!traceparent) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return m[1]!;
}

export function receivedEventId(source: SubmissionSource): string {
  return deriveId('task_received', ...source.key);
}

export function rejectedEventId(source: SubmissionSource): string {
  return deriveId('task_rejected', ...source.key);
}

/** The `<token>` of `…events.rejected.<token>.task_rejected`: the client's message id if usable, else the event id. */
export function rejectionToken(source: SubmissionSource): string {
  return source.token !== undefined && isSubjectToken(source.token) ? source.token : rejectedEventId(source);
}

/** The `task_received` event for a valid submission; identical for every delivery of the same message. */
export function receivedEnvelope(
  submission: TaskSubmission,
  source: SubmissionSource,
  occurredAt: Date,
): Envelope<'task_received'> {
  const runId = runIdFor(submission, source);
  // the envelope `makeEnvelope` (@warden/bus) builds from these, field for field
  return {
    id: receivedEventId(source),
    type: 'task_received',
    version: 1,
    run_id: runId,
    occurred_at: occurredAt.toISOString(),
    producer: 'ingest',
    correlation_id: runId,
    causation_id: null,
    trace_id: traceIdFor(source),
    data: {
      submission: { ...submission, run_id: runId },
      channel: source.channel,
      source_id: source.sourceId,
      ...(source.submittedBy ? { submitted_by: source.submittedBy } : {}),
    },
  };
}

/**
 * The `task_rejected` event. It has no run, so it travels on the rejected subject named by its
 * correlation id (see `Publisher.eventMessage`).
 */
export function rejectedEnvelope(
  errors: FieldError[],
  source: SubmissionSource,
  agentId: string | undefined,
  occurredAt: Date,
): Envelope<'task_rejected'> {
  // the envelope `makeEnvelope` (@warden/bus) builds from these, field for field
  return {
    id: rejectedEventId(source),
    type: 'task_rejected',
    version: 1,
    run_id: null,
    occurred_at: occurredAt.toISOString(),
    producer: 'ingest',
    correlation_id: rejectionToken(source),
    causation_id: null,
    trace_id: traceIdFor(source),
    data: {
      errors,
      channel: source.channel,
      source_id: source.sourceId,
      ...(agentId !== undefined ? { agent_id: agentId } : {}),
    },
  };
}

/** A row of the dedupe table, as far as conflict resolution needs it. */
export interface ExistingSubmission {
  runId: string;
  agentId: string;
  idempotencyKey: string | null;
  eventId: string;
  createdAt: Date;
}

/** What a submission that collided with existing rows is. */
export type Conflict =
  /** Our own earlier attempt at this very message committed: republish its event (same id). */
  | { kind: 'redelivery'; existing: ExistingSubmission }
  /** Same agent + idempotency key as an earlier submission: that run stands, nothing new happens. */
  | { kind: 'duplicate'; existing: ExistingSubmission }
  /** The client's run_id belongs to a different submission. */
  | { kind: 'run_id_in_use'; errors: FieldError[] };

/** The dedupe keys of one valid submission: what its row would hold. */
export interface Candidate {
  runId: string;
  eventId: string;
  agentId: string;
  idempotencyKey?: string | null;
}

const sameId = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * The rows `candidate` could have collided with: same run id, same event id, or same agent +
 * idempotency key (the table's unique keys). Postgres compares uuids case-insensitively; so does this.
 */
export function collidingRows(candidate: Candidate, rows: readonly ExistingSubmission[]): ExistingSubmission[] {
  const key = candidate.idempotencyKey ?? null;
  return rows.filter(
    (r) =>
      sameId(r.runId, candidate.runId) ||
      sameId(r.eventId, candidate.eventId) ||
      (key !== null && r.agentId === candidate.agentId && r.idempotencyKey === key),
  );
}

/**
 * Decides what a colliding submission is, given the rows it collided with (by run id, event id, or
 * agent + idempotency key). Own redelivery wins over duplicate, duplicate over a run id clash.
 */
export function classifyConflict(
  candidate: Pick<Candidate, 'eventId' | 'agentId' | 'idempotencyKey'>,
  existing: readonly ExistingSubmission[],
): Conflict {
  const own = existing.find((r) => sameId(r.eventId, candidate.eventId));
  if (own) return { kind: 'redelivery', existing: own };
  if (candidate.idempotencyKey !== undefined && candidate.idempotencyKey !== null) {
    const dup = existing.find((r) => r.agentId === candidate.agentId && r.idempotencyKey === candidate.idempotencyKey);
    if (dup) return { kind: 'duplicate', existing: dup };
  }
  return { kind: 'run_id_in_use', errors: [{ path: 'run_id', message: 'run_id already in use' }] };
}

/** What became of one candidate of a multi-row insert. */
export type Resolution =
  | { kind: 'inserted' }
  | Conflict
  /** It collided, but the row it collided with is gone (a rebuild emptied the table meanwhile). */
  | { kind: 'vanished' };

/**
 * Per candidate, whether the insert wrote its row: its event id came back, and no earlier candidate
 * with the same event id claimed it already.
 */
export function insertedMask(candidates: readonly Candidate[], insertedEventIds: Iterable<string>): boolean[] {
  const unclaimed = new Set([...insertedEventIds].map((id) => id.toLowerCase()));
  return candidates.map((c) => unclaimed.delete(c.eventId.toLowerCase()));
}

/**
 * Resolves each candidate of one `INSERT … ON CONFLICT DO NOTHING`, in order: `inserted` if its
 * row went in, else its {@link Conflict} with `rows`, the table's rows matching any candidate as read
 * after the insert. Those include the rows this very insert wrote, so two candidates of one batch
 * that collide resolve like two deliveries in a row: the one whose row went in is the run, the other
 * a duplicate (same agent + key) or a run id clash. A candidate repeated in the batch (same event id)
 * is inserted once; the repeat is a redelivery of it.
 */
export function resolveBatch(
  candidates: readonly Candidate[],
  insertedEventIds: Iterable<string>,
  rows: readonly ExistingSubmission[],
): Resolution[] {
  const inserted = insertedMask(candidates, insertedEventIds);
  return candidates.map((c, i): Resolution => {
    if (inserted[i]) return { kind: 'inserted' };
    const colliding = collidingRows(c, rows);
    return colliding.length === 0 ? { kind: 'vanished' } : classifyConflict(c, colliding);
  });
}
