import { z } from 'zod';

/**
 * Dead-letter handling events: an operator redrove or discarded a message a consumer refused for good
 * (`warden.dlq.<service>.<consumer>`, stream WARDEN_DLQ). They are not about one run, so they travel on
 * `warden.events.deadletter.<dlq_seq>.<type>` (envelope `run_id` null, `correlation_id` = the dead
 * letter's WARDEN_DLQ sequence). Emitted (and signed) by the orchestrator, which serves `/v1/dead-letters`.
 */
export const DeadLetterRef = z.object({
  /** Sequence of the dead letter in WARDEN_DLQ: its id. */
  dlq_seq: z.number().int().positive(),
  dlq_subject: z.string().min(1),
  /** The service and durable that refused it (`Warden-Dlq-Consumer`). */
  service: z.string().min(1),
  consumer: z.string().min(1),
  /** `Warden-Dlq-Code`, e.g. `EVENT.FORGED`, `POSTGRES.22P02`, `CONSUMER.MAX_DELIVERIES`. */
  code: z.string(),
  /** Where the message was refused (`Warden-Dlq-Subject` / `-Stream` / `-Stream-Seq`). */
  original_subject: z.string().min(1),
  original_stream: z.string().optional(),
  original_seq: z.number().int().positive().optional(),
  /** Who acted: the operator's id and display name. */
  operator_id: z.string().min(1),
  operator: z.string(),
});

/** The dead letter was re-published, byte for byte, to its original subject (once). */
export const DeadLetterRedrivenData = DeadLetterRef.extend({
  /** The `Nats-Msg-Id` it was re-published under: `redrive:<stream>:<dlq_seq>`, so a repeat is dropped. */
  redrive_msg_id: z.string().min(1),
  /** Stream and sequence the re-published copy got. */
  redrive_stream: z.string().optional(),
  redrive_seq: z.number().int().positive().optional(),
  comment: z.string().max(2000).optional(),
});

/** The dead letter was marked handled without re-publishing it. */
export const DeadLetterDiscardedData = DeadLetterRef.extend({
  reason: z.string().max(2000).optional(),
});

export const DeadLetterEventSchemas = {
  dead_letter_redriven: DeadLetterRedrivenData,
  dead_letter_discarded: DeadLetterDiscardedData,
} as const;

export type DeadLetterEventType = keyof typeof DeadLetterEventSchemas;
export const DEAD_LETTER_EVENT_TYPES = Object.keys(DeadLetterEventSchemas) as DeadLetterEventType[];
export function isDeadLetterEvent(type: string): type is DeadLetterEventType {
  return Object.prototype.hasOwnProperty.call(DeadLetterEventSchemas, type);
}
