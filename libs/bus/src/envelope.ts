import {
  EnvelopeBase,
  EventDataSchemas,
  toFieldErrors,
  type Envelope,
  type EventData,
  type EventType,
  type AnyEnvelope,
} from '@warden/contracts';
import { ValidationError, deriveId, newId } from '@warden/kernel';
import { eventAuthenticity } from './authenticity';

/** What a producer supplies; the rest of the envelope is filled in. */
export interface EnvelopeInput<T extends EventType> {
  type: T;
  runId: string | null;
  producer: string;
  traceId: string;
  data: EventData<T>;
  correlationId?: string;
  /** The event (or message id) that caused this one; also makes the id deterministic. */
  causationId?: string | null;
  /** Explicit id; by default derived from causation + type (or random without causation). */
  id?: string;
  occurredAt?: Date;
}

/**
 * Builds an envelope. With a causation id and no explicit id, the id is derived from
 * (causation, type), so reprocessing the same cause yields the same event id and the broker dedupes it.
 * @example makeEnvelope({ type: 'decision_made', runId, producer: 'policy', traceId, causationId: received.id, data: decision })
 */
export function makeEnvelope<T extends EventType>(input: EnvelopeInput<T>): Envelope<T> {
  const causation = input.causationId ?? null;
  return {
    id: input.id ?? (causation ? deriveId(causation, input.type) : newId()),
    type: input.type,
    version: 1,
    run_id: input.runId,
    occurred_at: (input.occurredAt ?? new Date()).toISOString(),
    producer: input.producer,
    correlation_id: input.correlationId ?? input.runId ?? causation ?? 'none',
    causation_id: causation,
    trace_id: input.traceId,
    data: input.data,
  };
}

/**
 * Validates an envelope and its `data` against the contract; throws {@link ValidationError} with
 * field paths (permanent: the message is dead-lettered). When the process has installed an
 * {@link EventAuthenticity} (every service does at boot), an event not signed by the one producer
 * allowed to emit its type throws {@link ForgedEventError} (also permanent). Unknown event types pass with raw data
 * only when `allowUnknown` is set (consumers that merely record events).
 */
export function decodeEnvelope(raw: unknown, allowUnknown = false): AnyEnvelope {
  // authenticity first, on the bytes as received: schema parsing may drop or reshape fields
  eventAuthenticity()?.check(raw);
  const base = EnvelopeBase.safeParse(raw);
  if (!base.success) throw new ValidationError(toFieldErrors(base.error));
  const schema = (EventDataSchemas as Record<string, (typeof EventDataSchemas)[EventType]>)[base.data.type];
  if (!schema) {
    if (allowUnknown) return base.data as unknown as AnyEnvelope;
    throw new ValidationError([{ path: 'type', message: `unknown event type "${base.data.type}"` }]);
  }
  const data = schema.safeParse(base.data.data);
  if (!data.success) {
    throw new ValidationError(
      toFieldErrors(data.error).map((e) => ({ ...e, path: e.path ? `data.${e.path}` : 'data' })),
    );
  }
  // assign, not spread: this runs for every event every consumer reads
  const env = base.data as unknown as AnyEnvelope;
  env.data = data.data as never;
  return env;
}
