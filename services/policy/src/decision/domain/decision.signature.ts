import { decisionSigningPayload, type Action, type Decision } from '@warden/contracts';
import { canonicalJson, signCanonicalText, type SigningKeys } from '@warden/kernel';

/**
 * Canonical JSON (RFC 8785) of `decisionSigningPayload(runId, action, decision)`, reusing the action's
 * canonical JSON the evaluator already made, so the action is not canonicalised twice per decision.
 * @example canonicalSigningText(runId, action, canonicalJson(action), d) === canonicalJson(decisionSigningPayload(runId, action, d))
 */
export function canonicalSigningText(
  runId: string,
  action: Action,
  canonicalAction: string,
  decision: Decision,
): string {
  const payload = decisionSigningPayload(runId, action, decision) as Record<string, unknown>;
  const keys = Object.keys(payload);
  // the shape this composition assumes (keys in canonical order); anything else is canonicalised whole
  if (keys.length !== 3 || keys.sort().join() !== 'action,decision,run_id' || payload.action !== action) {
    return canonicalJson(payload);
  }
  return `{"action":${canonicalAction},"decision":${canonicalJson(payload.decision)},"run_id":${canonicalJson(runId)}}`;
}

/**
 * The decision's signature: Ed25519 by the policy's own key, byte for byte what
 * `signCanonical(keys, decisionSigningPayload(...))` gives, over {@link canonicalSigningText}; anyone
 * holding the policy's public key (orchestrator, auditors) can verify it.
 * @example decision.signature = signDecision(keys, runId, action, canonicalJson(action), decision)
 */
export function signDecision(
  keys: SigningKeys,
  runId: string,
  action: Action,
  canonicalAction: string,
  decision: Decision,
): string {
  return signCanonicalText(keys, canonicalSigningText(runId, action, canonicalAction, decision));
}
