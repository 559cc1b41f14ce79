import { z } from 'zod';

/** A dead letter as listed, redriven or discarded (`DeadLetterSummary`). */
export const DeadLetterSummaryResponse = z.object({
  dlq_seq: z.number().int(),
  dlq_subject: z.string(),
  service: z.string(),
  consumer: z.string(),
  code: z.string(),
  category: z.string().describe('invalid, forged, refused or max_deliveries'),
  reason: z.string(),
  original_subject: z.string(),
  original_stream: z.string().nullable(),
  original_seq: z.number().int().nullable(),
  deliveries: z.number().int().nullable(),
  dead_at: z.string(),
  status: z.enum(['pending', 'redriven', 'discarded']),
  handled_by: z.string().nullable(),
  handled_by_id: z.string().nullable(),
  handled_at: z.string().nullable(),
  note: z.string().nullable(),
  redrive_msg_id: z.string().nullable(),
  redrive_seq: z.number().int().nullable(),
});

export const DeadLetterPage = z.object({
  dead_letters: z.array(DeadLetterSummaryResponse),
  next_cursor: z.string().nullable(),
});

/** One dead letter: why it died, its headers, and its body (JSON, or base64 when it is not JSON). */
export const DeadLetterResponse = DeadLetterSummaryResponse.extend({
  why: z.object({
    consumer: z.string(),
    code: z.string(),
    category: z.string(),
    reason: z.string(),
    deliveries: z.number().int().nullable(),
  }),
  headers: z.record(z.string(), z.string()),
  body: z.unknown().optional(),
  body_base64: z.string().optional(),
});
