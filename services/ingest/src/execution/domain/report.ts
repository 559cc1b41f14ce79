import type { ExecutionReportRequest } from '@warden/contracts';
import { grantSigningPayload } from '@warden/contracts';
import { sha256Canonical, verifyCanonical, type SigningKeys } from '@warden/kernel';

/** Why a report is refused at the edge: a stable code (its HTTP status is the runtime's), words, the field at fault. */
export interface ReportRefusal {
  code: string;
  detail: string;
  path?: string;
}

/**
 * Whether the caller's API key speaks for the grant's agent (the shell asks the runtime's
 * `bindingAdmits(principal, grant.agent)`): inside its binding, outside it, or a key without a binding.
 */
export type KeyBinding = 'ok' | 'unbound' | 'outside';

/**
 * The checks ingest makes before it records a client's execution report (pure; time passed in): the
 * grant is the orchestrator's (signature), for this run, not expired, spoken for by this API key
 * (bound to the grant's agent), the report names the grant's action hash, and the output hash is the
 * output's. Single use is the caller's (Redis) and, finally, the orchestrator's (it settles once).
 * @example checkReport(body, runId, 'ok', orchestratorKeys, new Date()) // undefined when acceptable
 */
export function checkReport(
  body: ExecutionReportRequest,
  runId: string,
  binding: KeyBinding,
  orchestrator: SigningKeys,
  now: Date,
): ReportRefusal | undefined {
  const g = body.grant;
  if (!verifyCanonical(orchestrator, grantSigningPayload(g), body.signature))
    return { code: 'GRANT.BAD_SIGNATURE', detail: 'the grant is not signed by the orchestrator', path: 'signature' };
  if (g.run_id !== runId)
    return { code: 'GRANT.RUN_MISMATCH', detail: 'the grant is for another run', path: 'grant.run_id' };
  if (binding === 'unbound')
    return {
      code: 'KEY.NOT_BOUND',
      detail: 'reports need an API key bound to the agent (POST /v1/keys with agent)',
    };
  if (binding === 'outside')
    return {
      code: 'KEY.AGENT_MISMATCH',
      detail: `this API key does not speak for agent "${g.agent.id}" (${g.agent.role})`,
      path: 'grant.agent',
    };
  if (body.action_hash !== g.action_hash || sha256Canonical(g.action) !== g.action_hash)
    return {
      code: 'GRANT.ACTION_MISMATCH',
      detail: 'the grant was issued for another action',
      path: 'action_hash',
    };
  if (now.getTime() > Date.parse(g.expires_at))
    return { code: 'GRANT.EXPIRED', detail: `the grant expired at ${g.expires_at}` };
  const o = body.outcome;
  if (o.output !== undefined && sha256Canonical(o.output) !== o.output_hash)
    return {
      code: 'VALIDATION.OUTPUT_HASH',
      detail: 'output_hash is not the SHA-256 of the canonical JSON of output',
      path: 'outcome.output_hash',
    };
  return undefined;
}
