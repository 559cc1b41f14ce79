import type { AuditRecord } from './chain';

/**
 * An audit record as an OCSF 1.3 event (docs/operations.md, "An audit log anyone can verify": the mapping table).
 * Class API Activity (6003, category Application Activity): every audited event is an operation on
 * Warden's API by an actor (the agent's proposal judged, an operator's vote, a worker's outcome), with
 * the Security Control profile's `disposition` for what was decided. The chain fields travel unchanged
 * in `unmapped.warden_audit`, so a SIEM can still tie an alert back to a verifiable record.
 */
export interface OcsfEvent {
  class_uid: 6003;
  class_name: 'API Activity';
  category_uid: 6;
  category_name: 'Application Activity';
  activity_id: number;
  activity_name: string;
  type_uid: number;
  time: number;
  severity_id: number;
  status_id: number;
  status: string;
  disposition_id: number;
  disposition: string;
  message: string;
  actor: { user: { uid: string; name?: string; type: string }; app_name?: string };
  api: { operation: string; service: { name: string } };
  resources: { uid: string; type: string }[];
  metadata: {
    version: '1.3.0';
    product: { name: 'Warden'; vendor_name: 'Warden' };
    uid: string;
    correlation_uid?: string;
    sequence: number;
    log_name: string;
    profiles: string[];
  };
  unmapped: { warden_audit: AuditRecord };
}

/** Disposition (OCSF `disposition_id`), status (1 success, 2 failure) and severity per event type. */
const DISPOSITIONS: Record<string, [number, string]> = {
  allow: [1, 'Allowed'],
  deny: [2, 'Blocked'],
  escalate: [14, 'Delayed'],
  compute: [11, 'Corrected'],
  approval_granted: [8, 'Approved'],
  approval_rejected: [25, 'Rejected'],
  approval_expired: [6, 'Dropped'],
  run_succeeded: [1, 'Allowed'],
  run_failed: [27, 'Error'],
  run_denied: [2, 'Blocked'],
  run_cancelled: [6, 'Dropped'],
  dead_letter_redriven: [9, 'Restored'],
  dead_letter_discarded: [5, 'Deleted'],
  execution_granted: [1, 'Allowed'],
  execution_reported: [99, 'Other'],
  execution_succeeded: [1, 'Allowed'],
  execution_failed: [27, 'Error'],
};

type Data = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Maps one record (with its `event`) to OCSF. */
export function toOcsf(r: AuditRecord, chain: string): OcsfEvent {
  const env = (r.event ?? {}) as { data?: Data };
  const data: Data = env.data ?? {};
  const outcome = r.type === 'decision_made' ? (str(data.outcome) ?? 'unknown') : r.type;
  const [dispositionId, disposition] = DISPOSITIONS[outcome] ?? [99, 'Other'];
  const failed = [
    'deny',
    'approval_rejected',
    'approval_expired',
    'run_failed',
    'run_denied',
    'execution_failed',
  ].includes(outcome);
  const operator =
    str(data.operator) ?? str(data.by) ?? (Array.isArray(data.operators) ? data.operators.join(',') : undefined);
  const actor =
    r.type.startsWith('approval_') || r.type.startsWith('dead_letter_') || r.type === 'run_cancelled'
      ? { uid: str(data.operator_id) ?? operator ?? r.producer, name: operator, type: 'operator' }
      : { uid: r.producer, type: 'service' };
  const tier = typeof data.tier === 'number' ? data.tier : undefined;
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: 99,
    activity_name: r.type,
    type_uid: 600399,
    time: Date.parse(r.occurred_at),
    severity_id: failed ? 3 : tier && tier >= 2 ? 2 : 1,
    status_id: failed ? 2 : 1,
    status: failed ? 'Failure' : 'Success',
    disposition_id: dispositionId,
    disposition,
    message: `${r.type}${r.type === 'decision_made' ? ` ${outcome}` : ''}${r.run_id ? ` run ${r.run_id}` : ''}`,
    actor: { user: actor, app_name: 'warden' },
    api: { operation: r.type, service: { name: r.producer } },
    resources: r.run_id ? [{ uid: r.run_id, type: 'warden.run' }] : [],
    metadata: {
      version: '1.3.0',
      product: { name: 'Warden', vendor_name: 'Warden' },
      uid: r.event_id,
      ...(r.run_id ? { correlation_uid: r.run_id } : {}),
      sequence: r.seq,
      log_name: chain,
      profiles: ['security_control'],
    },
    unmapped: { warden_audit: r },
  };
}
