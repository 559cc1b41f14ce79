import type { EntityManager } from 'typeorm';
import type { Action, Agent } from '@warden/contracts';
import { isUuid } from '@warden/kernel';
import type { PlanItemView, PlanView } from '../domain/plan-view';

export type { PlanItemView, PlanView } from '../domain/plan-view';

interface ItemRow {
  plan_id: string;
  idx: number;
  count: number;
  run_id: string;
  agent: Agent;
  session_id: string | null;
  action: Action;
  action_hash: string;
  intent: string | null;
  received_at: Date;
  approval_id: string | null;
  approval_status: 'pending' | 'granted' | 'rejected' | 'expired' | null;
  tier: number | null;
  required_votes: number | null;
  expires_at: Date | null;
  reasons: string[] | null;
  ended: string | null;
  ended_reason: string | null;
  run_status: string | null;
  outcome: string | null;
}

const SELECT_ITEMS = `SELECT p.*, i.id AS approval_id,
    CASE WHEN i.status = 'granted' AND COALESCE(e.status, '') = 'denied' THEN 'rejected' ELSE i.status END AS approval_status,
    i.tier, i.required_votes, i.expires_at, i.decision->'reasons' AS reasons,
    e.status AS ended, e.reason AS ended_reason, d.status AS run_status, d.outcome
  FROM approvals.plan_items p
  LEFT JOIN approvals.inbox i ON i.run_id = p.run_id
  LEFT JOIN approvals.run_endings e ON e.run_id = p.run_id
  LEFT JOIN approvals.dashboard_runs d ON d.run_id = p.run_id`;

/** Plans, read from plan membership joined with the inbox, run endings and the dashboard's run rows. */
export class PlanRepository {
  constructor(private readonly em: EntityManager) {}

  async load(planId: string): Promise<PlanView | undefined> {
    if (!isUuid(planId)) return undefined;
    const rows: ItemRow[] = await this.em.query(`${SELECT_ITEMS} WHERE p.plan_id = $1 ORDER BY p.idx`, [planId]);
    if (!rows.length) return undefined;
    const votes = await this.votes(rows.flatMap((r) => (r.approval_id ? [r.approval_id] : [])));
    return toView(rows, votes);
  }

  /** The plan a run is an item of, if any. */
  async planOfRun(runId: string): Promise<string | undefined> {
    if (!isUuid(runId)) return undefined;
    const rows: { plan_id: string }[] = await this.em.query(
      'SELECT plan_id FROM approvals.plan_items WHERE run_id = $1',
      [runId],
    );
    return rows[0]?.plan_id;
  }

  /** Newest first; `pending`: plans with an item whose approval is pending. */
  async list(f: { status?: 'pending'; limit: number }): Promise<PlanView[]> {
    const ids: { plan_id: string }[] = await this.em.query(
      `SELECT p.plan_id FROM approvals.plan_items p
       ${f.status === 'pending' ? `JOIN approvals.inbox i ON i.run_id = p.run_id AND i.status = 'pending'` : ''}
       GROUP BY p.plan_id ORDER BY max(p.received_at) DESC, p.plan_id LIMIT $1`,
      [f.limit],
    );
    const out: PlanView[] = [];
    for (const { plan_id } of ids) {
      const v = await this.load(plan_id);
      if (v) out.push(v);
    }
    return out;
  }

  private async votes(ids: string[]): Promise<Map<string, NonNullable<PlanItemView['approval']>['votes']>> {
    const out = new Map<string, NonNullable<PlanItemView['approval']>['votes']>();
    if (!ids.length) return out;
    const rows: { approval_id: string; operator: string; operator_id: string; vote: 'approve' | 'reject'; at: Date }[] =
      await this.em.query(
        'SELECT approval_id, operator, operator_id, vote, at FROM approvals.votes WHERE approval_id = ANY($1::uuid[]) ORDER BY at, operator_id',
        [ids],
      );
    for (const r of rows) {
      const list = out.get(r.approval_id) ?? [];
      list.push({ operator: r.operator, operator_id: r.operator_id, vote: r.vote, at: r.at.toISOString() });
      out.set(r.approval_id, list);
    }
    return out;
  }
}

function toView(rows: ItemRow[], votes: Map<string, NonNullable<PlanItemView['approval']>['votes']>): PlanView {
  const first = rows[0]!;
  const items = rows.map((r): PlanItemView => {
    const status = r.ended ?? (r.approval_status === 'pending' ? 'awaiting_approval' : (r.run_status ?? 'received'));
    return {
      index: r.idx,
      run_id: r.run_id,
      action: r.action,
      action_hash: r.action_hash,
      ...(r.intent ? { intent: r.intent } : {}),
      status,
      ...(r.outcome ? { outcome: r.outcome } : r.approval_id ? { outcome: 'escalate' } : {}),
      ...(r.ended_reason ? { reason: r.ended_reason } : {}),
      ...(r.approval_id
        ? {
            approval: {
              id: r.approval_id,
              status: r.approval_status!,
              tier: r.tier!,
              required_votes: r.required_votes!,
              votes: votes.get(r.approval_id) ?? [],
              expires_at: r.expires_at!.toISOString(),
              reasons: r.reasons ?? [],
            },
          }
        : {}),
    };
  });
  return {
    id: first.plan_id,
    agent: first.agent,
    ...(first.session_id ? { session_id: first.session_id } : {}),
    count: first.count,
    ...(first.intent ? { intent: first.intent } : {}),
    status: items.some((i) => i.approval?.status === 'pending') ? 'pending' : 'decided',
    created_at: rows.reduce((m, r) => (r.received_at < m ? r.received_at : m), first.received_at).toISOString(),
    items,
  };
}
