import { z } from 'zod';

/** `GET /v1/audit/keys`: the public keys that sign the chain's checkpoints, current first. */
export const AuditKeysResponse = z.object({
  algorithm: z.literal('ed25519'),
  chain: z.string(),
  keys: z.array(z.object({ key_id: z.string(), public_key: z.string(), current: z.boolean() })),
});
