import { newId } from '@warden/kernel';
import { waitFor } from '@warden/testing';
import type { System } from './system';

export interface AgentBinding {
  id: string;
  role: string;
}

export interface PendingApproval {
  id: string;
  run_id: string;
}

export interface CreateKeyOptions {
  /** The key's name (unique per call, e.g. `client-${newId()}`). */
  name: string;
  owner: string;
  /** The agent the key is bound to; none for an unbound key. */
  agent?: AgentBinding;
  /**
   * Which route must accept the key before it is returned: the orchestrator's run stream (the default;
   * its identity directory must know the key) or ingest's /mcp endpoint on each of `on`.
   */
  knownBy?: 'orchestrator' | 'mcp';
  /** The systems whose ingest must know the key (knownBy 'mcp'); the admin's own system by default. */
  on?: System[];
}

/** The admin and approver HTTP calls the end-to-end tests share, made on a running System with the admin token. */
export class AdminApi {
  readonly headers: Record<string, string>;

  constructor(
    readonly sys: System,
    readonly token: string,
  ) {
    this.headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  }

  /** Creates an API key (bound to `opts.agent` if given) and waits until the services know it. */
  async createKey(opts: CreateKeyOptions): Promise<string> {
    const r = await fetch(`${this.sys.url('ingest')}/v1/keys`, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify({ name: opts.name, owner: opts.owner, ...(opts.agent ? { agent: opts.agent } : {}) }),
    });
    expect(r.status).toBe(201);
    const { key } = (await r.json()) as { key: string };
    const auth = { authorization: `Bearer ${key}` };
    if (opts.knownBy === 'mcp') {
      for (const s of opts.on ?? [this.sys])
        await waitFor(async () => {
          const probe = await fetch(`${s.url('ingest')}/mcp`, { headers: auth });
          return probe.status !== 401;
        }, 'the new key to be known on every replica');
    } else {
      // the orchestrator's identity directory must know the key too (its stream route authenticates it)
      await waitFor(async () => {
        const probe = await fetch(`${this.sys.url('orchestrator')}/v1/runs/${newId()}/stream`, {
          headers: auth,
          signal: AbortSignal.timeout(200),
        }).catch(() => undefined);
        return probe === undefined || probe.status !== 401;
      }, 'the new key to be known');
    }
    return key;
  }

  /** Creates an operator with the approver role (up to tier 3); returns its token. */
  async createApprover(name: string): Promise<string> {
    const r = await fetch(`${this.sys.url('approvals')}/v1/operators`, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify({ name, roles: ['approver'], max_tier: 3 }),
    });
    expect(r.status).toBe(201);
    return ((await r.json()) as { token: string }).token;
  }

  private async pending(): Promise<PendingApproval[]> {
    const r = await fetch(`${this.sys.url('approvals')}/v1/approvals?status=pending&limit=100`, {
      headers: this.headers,
    });
    return ((await r.json()) as { items: PendingApproval[] }).items;
  }

  /** Waits for the pending approval of a run; returns its id. */
  async pendingApprovalOf(runId: string): Promise<string> {
    return waitFor(
      async () => (await this.pending()).find((a) => a.run_id === runId)?.id,
      `the approval of run ${runId}`,
    );
  }

  /** Waits for a pending approval of a run in the session. */
  async pendingApprovalInSession(session: string): Promise<PendingApproval> {
    return waitFor(async () => {
      for (const a of await this.pending()) {
        const run = await fetch(`${this.sys.url('orchestrator')}/v1/runs/${a.run_id}`, { headers: this.headers });
        if (run.status === 200 && ((await run.json()) as { session_id?: string }).session_id === session) return a;
      }
      return undefined;
    }, `a pending approval in session ${session}`);
  }

  /** One approver's vote; returns the HTTP status (200 recorded, 409 already decided). */
  async vote(approvalId: string, token: string, kind: 'approve' | 'reject', comment: string): Promise<number> {
    const r = await fetch(`${this.sys.url('approvals')}/v1/approvals/${approvalId}/${kind}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment }),
    });
    return r.status;
  }

  /** Approves with each approver in turn until the quorum is met (a 409 once it already is). */
  async approveWithEach(approvalId: string, tokens: string[], comment: string): Promise<void> {
    for (const token of tokens) {
      const status = await this.vote(approvalId, token, 'approve', comment);
      if (status === 409) return; // the quorum was already met
      expect(status).toBe(200);
    }
  }
}
