import { z } from 'zod';

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** `PUT /v1/policy/active`: the stored bundle to activate. */
export const ActivateBody = z.object({
  digest: z.string({ error: 'must be sha256:<64 hex chars> of a stored bundle' }).regex(/^sha256:[0-9a-f]{64}$/, {
    error: 'must be sha256:<64 hex chars> of a stored bundle',
  }),
});

/** `POST /v1/policy/whatif` (checked by the handler: YAML text or an object, size and depth limits). */
export const WhatIfBody = z.object({
  bundle: z.union([z.string(), z.record(z.string(), z.unknown())]).describe('the candidate bundle: YAML text or JSON'),
  since: z.string().optional().describe('24h, 90m, 7d or an ISO time (default 24h)'),
  limit: z.number().int().min(1).max(100_000).optional(),
});

/** `POST /v1/policy/replay`. */
export const ReplayBody = z.object({
  since: z.string().optional().describe('24h, 90m, 7d or an ISO time (default 24h)'),
  limit: z.number().int().min(1).max(100_000).optional(),
});

/** The bundle a replica judges by (`BundleInfo`). */
export const BundleInfoResponse = z.object({ version: z.string(), digest: Digest, activated_at: z.iso.datetime() });

/** A stored bundle as listed (`StoredBundle`). */
export const StoredBundleResponse = z.object({
  digest: Digest,
  version: z.string(),
  created_at: z.string(),
  created_by: z.string(),
  last_activated_at: z.string().nullable(),
  active: z.boolean(),
});

export const BundleSourceResponse = z.object({ digest: Digest, version: z.string(), source: z.string() });

const Replayed = z.object({
  outcome: z.string(),
  tier: z.number().int(),
  rule_ids: z.array(z.string()),
  reasons: z.array(z.string()),
  input_hash: z.string(),
});

/** One run re-evaluated under its recorded bundle (`ReplayResult` and the digest). */
export const ReplayResultResponse = z.object({
  run_id: z.string(),
  identical: z.boolean(),
  differences: z.array(z.string()).describe('e.g. "outcome: recorded deny, replayed allow"'),
  replayed: Replayed,
  policy_digest: Digest,
});

export const ReplayManyResponse = z.object({
  replayed: z.number().int(),
  identical: z.number().int(),
  different: z.array(ReplayResultResponse),
});

/** What a candidate bundle would change (`WhatIfReport` and the candidate). */
export const WhatIfResponse = z.object({
  evaluated: z.number().int(),
  unchanged: z.number().int(),
  changed: z.number().int(),
  transitions: z.record(z.string(), z.number().int()).describe('{"deny→allow": n}'),
  examples: z.record(z.string(), z.array(z.object({}).loose())),
  candidate: z.object({ version: z.string(), digest: Digest }),
});
