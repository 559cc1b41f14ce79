import { z } from 'zod';

/** Webhook sources as listed (`SourceListing`): never a secret. */
export const SourcesResponse = z.object({
  sources: z.array(
    z.object({
      name: z.string(),
      created_at: z.iso.datetime(),
      created_by: z.string(),
      secrets: z.array(z.object({ created_at: z.iso.datetime(), expires_at: z.iso.datetime().nullable() })),
    }),
  ),
});

export const CreatedSourceResponse = z.object({ name: z.string(), secret: z.string().describe('whsec_<base64>') });

export const RotatedSourceResponse = CreatedSourceResponse.extend({ previous_valid_until: z.iso.datetime() });
