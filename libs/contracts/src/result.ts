import { z } from 'zod';
import { Sha256 } from './common';

/** Largest `output` kept in a run result; larger output is cut and marked truncated. */
export const MAX_OUTPUT_BYTES = 64 * 1024;

/** What executing a run's action produced (CONTRACT §5). */
export const RunResult = z.object({
  output: z.unknown(),
  output_hash: Sha256,
  truncated: z.boolean().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  outcome_unknown: z.boolean().optional(),
});
export type RunResult = z.infer<typeof RunResult>;
