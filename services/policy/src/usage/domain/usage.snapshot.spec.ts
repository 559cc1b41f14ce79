import { parseSnapshot, usageRow, type StoredState } from './usage.snapshot';
import type { StateRequest } from './usage.request';

const request: StateRequest = {
  runId: 'run-1',
  sessionId: 's-1',
  agentId: 'agent-7',
  tool: 'fs.write_file',
  tokens: 12.7,
  costUsd: 0.0123456,
  host: '',
  fingerprint: 'f'.repeat(32),
  rate: { id: 'writes', tools: ['fs.write_file'], capacity: 2, per: 60, outcome: 'deny', tier: 2 },
  trackAgent: true,
  sessionTtl: 3600,
  agentTtl: 86400,
};

describe('parseSnapshot', () => {
  it('given a snapshot with session history, then tools are keyed and sorted, hosts sorted, micro-USD in USD', () => {
    const text = JSON.stringify({
      s: {
        c: 3,
        t: 40,
        m: 1_500_000,
        h: ['t:git.push', '2', 'h:b.example', '1', 't:fs.read_file', '1', 'h:a.example', '1'],
        f: 1,
        r: 2,
      },
      a: { c: 9, t: 100, m: 250_000 },
      r: 2,
    });
    expect(parseSnapshot(text, request)).toEqual({
      session: {
        calls: 3,
        tokens: 40,
        cost_usd: 1.5,
        tools: { 'fs.read_file': 1, 'git.push': 2 },
        hosts: ['a.example', 'b.example'],
      },
      agent: { calls: 9, tokens: 100, cost_usd: 0.25 },
      rate: { limit_id: 'writes', limited: true },
      failures: 1,
      repeats: 2,
    });
    expect(Object.keys(parseSnapshot(text, request).session!.tools)).toEqual(['fs.read_file', 'git.push']);
  });

  it('given an empty history (Lua encodes an empty table as {}), then no tools and no hosts', () => {
    const text = JSON.stringify({ s: { c: 0, t: 0, m: 0, h: {}, f: 0 }, a: false, r: 0 });
    expect(parseSnapshot(text, request).session).toMatchObject({ tools: {}, hosts: [] });
  });

  it('given a snapshot stored before repeats were counted, or with none, then repeats is absent (the input hash is unchanged)', () => {
    const text = JSON.stringify({ s: { c: 1, t: 0, m: 0, h: [], f: 0 }, a: false, r: 1 });
    expect('repeats' in parseSnapshot(text, request)).toBe(false);
    expect(parseSnapshot(text, request).rate).toEqual({ limit_id: 'writes', limited: false });
  });

  it('given no session, no agent tracking and no rate limit, then those parts are null and nothing failed', () => {
    const text = JSON.stringify({ s: { c: 5, t: 0, m: 0, h: [], f: 3, r: 4 }, a: { c: 1, t: 1, m: 1 }, r: 1 });
    const bare = { ...request, sessionId: null, trackAgent: false, rate: null };
    expect(parseSnapshot(text, bare)).toEqual({ session: null, agent: null, rate: null, failures: 0 });
  });
});

describe('usageRow', () => {
  const state: StoredState = {
    session: { calls: 2, tokens: 30, cost_usd: 0.5, tools: { 'fs.write_file': 2 }, hosts: ['a.example'] },
    agent: { calls: 7, tokens: 70, cost_usd: 1.25 },
    rate: { limit_id: 'writes', limited: false },
    failures: 1,
    repeats: 3,
  };

  it('given a counted run, then the row holds its request (tokens truncated, cost in micro-USD, the rate key)', () => {
    const row = usageRow(request, state, 'p:policy:session:s-1');
    expect(row).toMatchObject({
      run_id: 'run-1',
      session_id: 's-1',
      agent_id: 'agent-7',
      tokens: 12,
      micro_usd: 12346,
      track_agent: true,
      rate_key: 'writes:agent-7:fs.write_file',
      rate_capacity: 2,
      rate_per_ms: 60_000,
    });
    expect(row.snapshot.l).toEqual(['p:policy:session:s-1:fail', request.fingerprint]);
  });

  it('given its snapshot read back, then it is the state the run was judged on (a rebuilt key answers like the lost one)', () => {
    const row = usageRow(request, state, 'p:policy:session:s-1');
    expect(parseSnapshot(JSON.stringify(row.snapshot), request)).toEqual(state);
  });

  it('given a run without session, agent or rate limit, then the snapshot says so and the row has no rate key', () => {
    const bare = { ...request, sessionId: null, trackAgent: false, rate: null };
    const row = usageRow(bare, { session: null, agent: null, rate: null, failures: 0 }, 'unused');
    expect(row.snapshot).toEqual({ s: false, a: false, r: 0 });
    expect(row).toMatchObject({ rate_key: null, rate_capacity: null, rate_per_ms: null });
  });
});
