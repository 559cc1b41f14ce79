import { canonicalJson, sha256Hex } from '@warden/kernel';
import { parseBundle } from '@warden/policy-language';
import { DEFAULT_WINDOW_SECONDS, stateRequest } from './usage.request';

const BASE = `
version: 'usage-test.1'
mode: enforce
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
history: { url_args: [url] }
roles:
  dev: { tools: [fs.*, http.get] }
rules:
  - { id: get, tools: [http.get], outcome: allow, reason: ok }
`;
const plain = parseBundle(BASE);
const budgeted = parseBundle(`${BASE}
budgets:
  session: { max_calls: 10, window_seconds: 600 }
  agent: { max_cost_usd: 5, window_seconds: 7200 }
rate_limits:
  - { id: gets, tools: [http.get], capacity: 5, per: 1m }
`);

const submission = {
  agent: { id: 'agent-7', role: 'dev' },
  session_id: 's-1',
  action: { tool: 'http.get', args: { url: 'https://api.example.com/x' } },
  usage: { tokens: 12, cost_usd: 0.02 },
};

describe('stateRequest', () => {
  it('given a bundle without budgets or limits, then default windows, no agent tracking, no rate limit', () => {
    expect(stateRequest(plain, 'run-1', submission)).toEqual({
      runId: 'run-1',
      sessionId: 's-1',
      agentId: 'agent-7',
      tool: 'http.get',
      tokens: 12,
      costUsd: 0.02,
      host: 'api.example.com',
      fingerprint: sha256Hex(canonicalJson({ tool: 'http.get', args: submission.action.args })).slice(0, 32),
      rate: null,
      trackAgent: false,
      sessionTtl: DEFAULT_WINDOW_SECONDS,
      agentTtl: DEFAULT_WINDOW_SECONDS,
    });
  });

  it('given session and agent budgets and a rate limit for the tool, then their windows, agent tracking and the limit', () => {
    const r = stateRequest(budgeted, 'run-1', submission);
    expect(r).toMatchObject({ trackAgent: true, sessionTtl: 600, agentTtl: 7200 });
    expect(r.rate).toMatchObject({ id: 'gets', capacity: 5, per: 60 });
  });

  it('given no session and no usage, then a null session and zero tokens and cost', () => {
    const r = stateRequest(plain, 'dry-run', { ...submission, session_id: undefined, usage: undefined });
    expect(r).toMatchObject({ runId: 'dry-run', sessionId: null, tokens: 0, costUsd: 0 });
  });

  it('given the same call with arguments in another key order, then the same fingerprint (loop detection counts it)', () => {
    const a = stateRequest(plain, 'r', { ...submission, action: { tool: 'fs.read_file', args: { a: 1, b: 2 } } });
    const b = stateRequest(plain, 'r', { ...submission, action: { tool: 'fs.read_file', args: { b: 2, a: 1 } } });
    const c = stateRequest(plain, 'r', { ...submission, action: { tool: 'fs.read_file', args: { a: 1, b: 3 } } });
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    expect(a.host).toBe('');
  });
});
