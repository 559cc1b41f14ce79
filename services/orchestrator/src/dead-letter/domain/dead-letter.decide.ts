import type { EventType } from '@warden/contracts';
import { DomainError, deriveId } from '@warden/kernel';

/** What the handling rules read of a stored dead letter. */
export interface DeadLetterFacts {
  dlq_seq: number;
  dlq_subject: string;
  service: string;
  consumer: string;
  code: string;
  original_subject: string;
  original_stream: string | null;
  original_seq: number | null;
  status: 'pending' | 'redriven' | 'discarded';
  handled_by: string | null;
  handled_at: string | null;
}

/** The operator handling a dead letter. */
export interface DeadLetterOperator {
  id: string;
  name: string;
}

export type HandledType = Extract<EventType, 'dead_letter_redriven' | 'dead_letter_discarded'>;

/** What handling a dead letter records: the audit event's type and data, and the row's new status. */
export interface Handling {
  type: HandledType;
  data: Record<string, unknown>;
  row: { status: 'redriven' | 'discarded'; note?: string; redriveMsgId?: string; redriveSeq?: number };
}

/**
 * Why this dead letter may not be handled now (or undefined when it may): a dead letter is handled
 * once (409 `DEAD_LETTER.ALREADY_HANDLED`), and only one that names its original subject can be
 * redriven (`DEAD_LETTER.NOT_REDRIVABLE`).
 * @example const refused = handlingRefusal(d, 'redrive'); if (refused) throw refused
 */
export function handlingRefusal(d: DeadLetterFacts, action: 'redrive' | 'discard'): DomainError | undefined {
  if (d.status !== 'pending') {
    return new DomainError(
      'DEAD_LETTER.ALREADY_HANDLED',
      `dead letter ${d.dlq_seq} was already ${d.status} by ${d.handled_by ?? '?'} at ${d.handled_at ?? '?'}`,
    );
  }
  if (action === 'redrive' && !d.original_subject) {
    return new DomainError('DEAD_LETTER.NOT_REDRIVABLE', 'the dead letter does not name its original subject');
  }
  return undefined;
}

/** The `Nats-Msg-Id` of a redrive: one per dead letter, so a retried redrive is dropped by the broker. */
export function redriveMsgId(deadLettersStream: string, seq: number): string {
  return `redrive:${deadLettersStream}:${seq}`;
}

/** A redrive the broker acknowledged at `ack`. */
export function redriven(msgId: string, ack: { stream: string; seq: number }, comment?: string): Handling {
  return {
    type: 'dead_letter_redriven',
    data: { redrive_msg_id: msgId, redrive_stream: ack.stream, redrive_seq: ack.seq, ...(comment ? { comment } : {}) },
    row: { status: 'redriven', note: comment, redriveMsgId: msgId, redriveSeq: ack.seq },
  };
}

/** A discard, with the operator's reason when given. */
export function discarded(reason?: string): Handling {
  return { type: 'dead_letter_discarded', data: reason ? { reason } : {}, row: { status: 'discarded', note: reason } };
}

/**
 * The signed audit event of a handling: which dead letter, who handled it, and what was done. Its id
 * is derived from the dead letter and the handling, so a retry after a crash republishes the same id.
 * @example const { id, data } = handledEvent(d, redriven(msgId, ack), principal, 'WARDEN_DLQ')
 */
export function handledEvent(
  d: DeadLetterFacts,
  done: Handling,
  operator: DeadLetterOperator,
  deadLettersStream: string,
): { id: string; data: Record<string, unknown> } {
  return {
    id: deriveId(`${deadLettersStream}:${d.dlq_seq}`, done.type),
    data: {
      dlq_seq: d.dlq_seq,
      dlq_subject: d.dlq_subject,
      service: d.service,
      consumer: d.consumer,
      code: d.code,
      original_subject: d.original_subject,
      ...(d.original_stream ? { original_stream: d.original_stream } : {}),
      ...(d.original_seq ? { original_seq: d.original_seq } : {}),
      operator_id: operator.id,
      operator: operator.name,
      ...done.data,
    },
  };
}

/** Headers the redriven copy does not take over: the dead-letter facts and the broker's own. */
export function isCarriedHeader(name: string): boolean {
  return !/^warden-dlq-/i.test(name) && !/^nats-/i.test(name);
}

/** The body as JSON when it is JSON, else base64. */
export function bodyView(body: Buffer): { body?: unknown; body_base64?: string } {
  try {
    return { body: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) };
  } catch {
    return { body_base64: body.toString('base64') };
  }
}

/** What was refused: a projection wraps bytes that were not JSON as `{raw_base64}`. */
export function originalBytes(body: Buffer): Uint8Array {
  const v = bodyView(body).body as { raw_base64?: unknown } | undefined;
  return v && typeof v === 'object' && Object.keys(v).length === 1 && typeof v.raw_base64 === 'string'
    ? Buffer.from(v.raw_base64, 'base64')
    : body;
}
