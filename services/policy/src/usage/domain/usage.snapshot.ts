import type { PolicyState, SessionState, UsageCounters } from '@warden/policy-language';
import type { StateRequest } from './usage.request';

/** The usage state of one proposal as the Redis script stores it (the run's snapshot), parsed. */
export type StoredState = Omit<PolicyState, 'standing'>;

/**
 * A run's snapshot as the Lua script (usage/policy-state.store.ts) writes it:
 * `{s: {c, t, m, h, f, r?} | false, a: {c, t, m} | false, r: 0|1|2, l?: [failKey, fingerprint]}`.
 */
export interface Snapshot {
  /** `r`: earlier proposals of the same call (absent in snapshots stored before it was counted). */
  s: false | { c: number; t: number; m: number; h: string[] | Record<string, never>; f: number; r?: number };
  a: false | { c: number; t: number; m: number };
  r: 0 | 1 | 2;
}

function counters(x: { c: number; t: number; m: number }): UsageCounters {
  return { calls: x.c, tokens: x.t, cost_usd: x.m / 1e6 };
}

/**
 * The state a proposal is judged on, from its snapshot: session counters and history (tools by name,
 * hosts sorted), the agent's counters when the bundle counts them, the rate-limit answer when a limit
 * applies, failures and repeats of this very call (repeats omitted when 0).
 */
export function parseSnapshot(text: string, r: StateRequest): StoredState {
  const snap = JSON.parse(text) as Snapshot;
  let session: SessionState | null = null;
  let failures = 0;
  let repeats = 0;
  if (snap.s && r.sessionId) {
    const tools: Record<string, number> = {};
    const hosts: string[] = [];
    const flat = Array.isArray(snap.s.h) ? snap.s.h : [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const k = flat[i]!;
      if (k.startsWith('t:')) tools[k.slice(2)] = Number(flat[i + 1]);
      else if (k.startsWith('h:')) hosts.push(k.slice(2));
    }
    hosts.sort();
    session = { ...counters(snap.s), tools: sortKeys(tools), hosts };
    failures = snap.s.f;
    repeats = snap.s.r ?? 0;
  }
  return {
    session,
    agent: snap.a && r.trackAgent ? counters(snap.a) : null,
    rate: r.rate && snap.r ? { limit_id: r.rate.id, limited: snap.r === 2 } : null,
    failures,
    ...(repeats ? { repeats } : {}),
  };
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The row of one counted run, with the snapshot in the Lua script's format (usage/policy-state.store.ts:
 * `{s: {c, t, m, h, f, r?} | false, a: {c, t, m} | false, r: 0|1|2, l?: [failKey, fingerprint]}`), so
 * that a rebuilt run key answers a redelivery exactly as the lost one would have.
 */
/** One `policy.usage` row as a decision batch writes it (see {@link usageRow}). */
export type UsageRecord = ReturnType<typeof usageRow>;

export function usageRow(r: StateRequest, s: StoredState, sessionKey: string) {
  const micro = (usd: number) => Math.round(usd * 1e6);
  const snapshot = {
    s: s.session
      ? {
          c: s.session.calls,
          t: s.session.tokens,
          m: micro(s.session.cost_usd),
          h: [
            ...Object.entries(s.session.tools).flatMap(([tool, n]) => [`t:${tool}`, String(n)]),
            ...s.session.hosts.flatMap((h) => [`h:${h}`, '1']),
          ],
          f: s.failures,
          ...(s.repeats ? { r: s.repeats } : {}),
        }
      : false,
    a: s.agent ? { c: s.agent.calls, t: s.agent.tokens, m: micro(s.agent.cost_usd) } : false,
    r: s.rate ? (s.rate.limited ? 2 : 1) : 0,
    ...(r.sessionId ? { l: [`${sessionKey}:fail`, r.fingerprint] } : {}),
  };
  return {
    run_id: r.runId,
    session_id: r.sessionId,
    agent_id: r.agentId,
    tool: r.tool,
    tokens: Math.max(0, Math.trunc(r.tokens)),
    micro_usd: Math.max(0, micro(r.costUsd)),
    host: r.host,
    fingerprint: r.fingerprint,
    track_agent: r.trackAgent,
    session_ttl: r.sessionTtl,
    agent_ttl: r.agentTtl,
    rate_key: r.rate ? `${r.rate.id}:${r.agentId}:${r.tool}` : null,
    rate_capacity: r.rate?.capacity ?? null,
    rate_per_ms: r.rate ? r.rate.per * 1000 : null,
    snapshot,
  };
}
