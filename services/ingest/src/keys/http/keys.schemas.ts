import { z } from 'zod';

const Bound = z.object({ id: z.string(), role: z.string() }).describe('the one agent the key speaks for');

/** A key as listed (`KeyListing`): never the key itself. */
export const KeyResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  owner: z.string(),
  status: z.enum(['active', 'rotating', 'expired', 'revoked']),
  created_at: z.iso.datetime(),
  created_by: z.string(),
  last_used_at: z.iso.datetime().nullable(),
  expires_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
  replaced_by: z.uuid().nullable(),
  agent: Bound.nullable(),
  roles: z.array(z.string()).nullable().describe('a harness key: the roles it may submit under'),
  agent_pattern: z.string().nullable().describe("a harness key: glob every agent id must match ('*' = any run)"),
});

export const KeysResponse = z.object({ keys: z.array(KeyResponse) });

/** A new key (`CreatedKey`): the only answer that shows the key. */
export const CreatedKeyResponse = z.object({
  id: z.uuid(),
  key: z.string().describe('wk_… shown once; only its SHA-256 is stored'),
  name: z.string(),
  owner: z.string(),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime().nullable(),
  agent: Bound.optional(),
  roles: z.array(z.string()).optional(),
  agent_pattern: z.string().optional(),
});

export const RevokedKeyResponse = z.object({ id: z.uuid(), revoked_at: z.iso.datetime() });
