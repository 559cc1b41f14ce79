import type { EventData, McpToolFacts } from '@warden/contracts';
import { emptySession } from '@warden/policy-language';
import { judgedInput, standingGrantsFor, type Judged } from './decision.input';
import type { StoredState } from '../../usage/domain/usage.snapshot';

type Approval = EventData<'standing_approval_granted'>;

const submission: Judged = {
  agent: { id: 'agent-7', role: 'dev' },
  session_id: 's-1',
  action: { tool: 'git.push', args: { branch: 'x' } },
  usage: { tokens: 10 },
};

function approval(extra: Partial<Approval>): Approval {
  return {
    standing_id: 'sa-1',
    scope: 'agent',
    agent_id: 'agent-7',
    tool: 'git.push',
    max_tier: 2,
    ...extra,
  } as Approval;
}

const state: StoredState = {
  session: { ...emptySession(), calls: 3 },
  agent: null,
  rate: { limit_id: 'writes', limited: false },
  failures: 1,
  repeats: 2,
};

describe('standingGrantsFor', () => {
  it('given approvals for other agents and tools, then only this agent’s for this tool remain', () => {
    const grants = standingGrantsFor(submission, [
      approval({ standing_id: 'sa-1' }),
      approval({ standing_id: 'sa-2', agent_id: 'agent-8' }),
      approval({ standing_id: 'sa-3', tool: 'git.commit' }),
    ]);
    expect(grants.map((g) => g.id)).toEqual(['sa-1']);
  });

  it('given approvals in any order, then they are sorted by id (the input hash does not depend on the directory)', () => {
    const grants = standingGrantsFor(submission, [
      approval({ standing_id: 'sa-c' }),
      approval({ standing_id: 'sa-a' }),
      approval({ standing_id: 'sa-b' }),
    ]);
    expect(grants.map((g) => g.id)).toEqual(['sa-a', 'sa-b', 'sa-c']);
  });

  it('given a session-scoped and an agent-scoped approval, then only the evaluated fields are kept, session_id only when set', () => {
    const grants = standingGrantsFor(submission, [
      approval({ standing_id: 'sa-1', scope: 'session', session_id: 's-1', max_tier: 3 }),
      approval({ standing_id: 'sa-2' }),
    ]);
    expect(grants).toEqual([
      { id: 'sa-1', scope: 'session', agent_id: 'agent-7', tool: 'git.push', max_tier: 3, session_id: 's-1' },
      { id: 'sa-2', scope: 'agent', agent_id: 'agent-7', tool: 'git.push', max_tier: 2 },
    ]);
    expect(Object.keys(grants[1]!)).not.toContain('session_id');
  });

  it('given no approvals, then none', () => {
    expect(standingGrantsFor(submission, [])).toEqual([]);
  });
});

describe('judgedInput', () => {
  const grant = { id: 'sa-1', scope: 'agent' as const, agent_id: 'agent-7', tool: 'git.push', max_tier: 2 as const };

  it('given the state read, standing grants and no MCP facts, then the policy input carries them and no mcp key', () => {
    const input = judgedInput(submission, state, [grant], undefined);
    expect(input).toEqual({
      agent: { id: 'agent-7', role: 'dev' },
      session_id: 's-1',
      action: { tool: 'git.push', args: { branch: 'x' } },
      usage: { tokens: 10 },
      session_usage: { ...emptySession(), calls: 3 },
      agent_usage: null,
      rate: { limit_id: 'writes', limited: false },
      failures: 1,
      repeats: 2,
      standing: [grant],
    });
    expect('mcp' in input).toBe(false);
  });

  it('given an upstream MCP tool’s facts, then they are part of the input (and so of its hash)', () => {
    const facts = { server: 'gh', pinned: true } as unknown as McpToolFacts;
    expect(judgedInput(submission, state, [], facts).mcp).toBe(facts);
  });

  it('given a submission without a session, then there is no session usage whatever was read', () => {
    const input = judgedInput({ ...submission, session_id: undefined }, state, [], undefined);
    expect(input).toMatchObject({ session_id: null, session_usage: null });
  });
});
