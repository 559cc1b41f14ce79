import { z } from 'zod';

/** `202` to a new submission: durably handed off (task_received acked by JetStream). */
export const AcceptedResponse = z.object({
  run_id: z.uuid(),
  status: z.literal('received'),
  duplicate: z.literal(false),
});

/** `200` to a repeated submission (same agent and idempotency key, or a replayed webhook-id): the first run. */
export const DuplicateResponse = z.object({ run_id: z.uuid(), duplicate: z.literal(true) });
