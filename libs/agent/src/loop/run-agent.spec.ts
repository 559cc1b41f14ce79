import type { ChatModel, ChatRequest, ChatResponse } from '../model/chat-model';
import type { Gate, GateCall } from '../gate/gate';
import type { GateOutcome } from '../gate/outcome';
import { runAgent } from './run-agent';

/** A model that answers from a script and keeps every request it saw. */
function scripted(turns: Partial<ChatResponse>[], repeatLast = false): ChatModel & { seen: ChatRequest[] } {
  const seen: ChatRequest[] = [];
  let i = 0;
  return {
    id: 'test:scripted',
    seen,
    chat: async (req) => {
      seen.push(structuredClone({ ...req, signal: undefined }));
      const t = turns[Math.min(i++, repeatLast ? turns.length - 1 : Infinity)];
      if (!t) throw new Error('script exhausted');
      return {
        text: '',
        toolCalls: [],
        usage: { inputTokens: 100, outputTokens: 10, totalTokens: 110 },
        finishReason: 'stop',
        ...t,
      };
    },
  };
}

function recordingGate(decide: (c: GateCall) => GateOutcome): Gate & { calls: GateCall[] } {
  const calls: GateCall[] = [];
  const gate = (async (c: GateCall) => {
    calls.push(c);
    return decide(c);
  }) as Gate & { calls: GateCall[] };
  gate.calls = calls;
  return gate;
}

const write = (id: string, path = 'a.md') => ({ id, name: 'fs.write_file', args: { path, content: 'x' } });
const ok = (c: GateCall): GateOutcome => ({
  kind: 'executed',
  runId: `run-${c.idempotencyKey}`,
  output: { path: c.args.path },
});
const denied: GateOutcome = {
  kind: 'refused',
  runId: 'r-d',
  status: 'denied',
  reasons: ['no writes today'],
  ruleIds: ['no-writes'],
};

describe('runAgent: the reference agent loop', () => {
  it('offers the role’s tools, runs each call through the gate in one session, and stops on an answer', async () => {
    const model = scripted([{ text: 'on it', toolCalls: [write('c1')] }, { text: 'wrote a.md' }]);
    const gate = recordingGate(ok);
    const r = await runAgent({ goal: 'write a.md', role: 'dev', model, gate });
    expect(r).toMatchObject({ stopReason: 'answered', answer: 'wrote a.md', steps: 2 });
    expect(model.seen[0]!.tools.map((t) => t.name)).toContain('fs.write_file');
    expect(model.seen[0]!.tools.map((t) => t.name)).not.toContain('http.get');
    expect(gate.calls).toEqual([
      expect.objectContaining({
        tool: 'fs.write_file',
        session: r.session,
        intent: 'on it',
        idempotencyKey: `${r.session}:1:0`,
      }),
    ]);
    // the model's second request carries the tool result
    const toolMsg = model.seen[1]!.messages.find((m) => m.role === 'tool');
    expect(toolMsg).toMatchObject({ toolCallId: 'c1', toolName: 'fs.write_file' });
    expect(JSON.parse((toolMsg as { content: string }).content)).toMatchObject({ status: 'succeeded', executed: true });
  });

  it('gives a refusal back to the model with its reasons and rule ids, and carries on', async () => {
    const model = scripted([{ toolCalls: [write('c1')] }, { text: 'I may not write; giving up' }]);
    const r = await runAgent({ goal: 'g', role: 'dev', model, gate: recordingGate(() => denied) });
    expect(r.stopReason).toBe('answered');
    const toolMsg = model.seen[1]!.messages.find((m) => m.role === 'tool') as { content: string };
    expect(JSON.parse(toolMsg.content)).toMatchObject({
      status: 'denied',
      executed: false,
      reasons: ['no writes today'],
      rule_ids: ['no-writes'],
    });
  });

  it('stops a runaway model at the step limit', async () => {
    let n = 0;
    const model = scripted([{ toolCalls: [write('c')] }], true);
    const r = await runAgent({
      goal: 'g',
      role: 'dev',
      model,
      maxSteps: 4,
      gate: recordingGate((c) => ok({ ...c, idempotencyKey: String(n++) })),
    });
    expect(r).toMatchObject({ stopReason: 'max_steps', steps: 4 });
    expect(r.calls).toHaveLength(4);
  });

  it('stops when refusals repeat (N in a row), and a success in between resets the count', async () => {
    const outcomes = [denied, denied, ok({ tool: 'fs.write_file', args: {}, session: 's' }), denied, denied, denied];
    const model = scripted([{ toolCalls: [write('c')] }], true);
    const r = await runAgent({
      goal: 'g',
      role: 'dev',
      model,
      maxSteps: 50,
      maxConsecutiveRefusals: 3,
      gate: recordingGate(() => outcomes.shift()!),
    });
    expect(r).toMatchObject({ stopReason: 'refusals', steps: 6 });
  });

  it('puts each response’s token usage on the next proposal, once (the sum is what the model really used)', async () => {
    const usage = (t: number) => ({ inputTokens: t, outputTokens: 0, totalTokens: t, costUsd: t / 1e6 });
    const model = scripted([
      { toolCalls: [write('a'), write('b')], usage: usage(500) },
      // a call to a tool the agent was not offered is never proposed: its tokens go on the next proposal
      { toolCalls: [{ id: 'x', name: 'secrets.read', args: {} }], usage: usage(70) },
      { toolCalls: [write('c')], usage: usage(30) },
      { text: 'done', usage: usage(5) },
    ]);
    const gate = recordingGate(ok);
    const r = await runAgent({ goal: 'g', role: 'dev', model, gate });
    expect(gate.calls.map((c) => c.usage?.tokens)).toEqual([500, 0, 100]);
    expect(gate.calls[0]!.usage?.cost_usd).toBeCloseTo(0.0005, 12);
    expect(gate.calls[1]!.usage?.cost_usd).toBeUndefined();
    expect(gate.calls[2]!.usage?.cost_usd).toBeCloseTo(0.0001, 12);
    expect(r.usage.totalTokens).toBe(605);
    expect(r.calls[2]!.outcome).toMatchObject({ kind: 'refused', status: 'invalid', runId: null });
  });

  it('with onEscalation "return", stops at a call that waits for a human and names the approval', async () => {
    const model = scripted([
      { toolCalls: [{ id: 'p', name: 'git.push', args: { remote: 'origin', branch: 'main' } }, write('w')] },
    ]);
    const gate = recordingGate(() => ({ kind: 'pending_approval', runId: 'run-p', approvalId: 'appr-1' }));
    const r = await runAgent({ goal: 'push', role: 'dev', model, gate, onEscalation: 'return' });
    expect(r).toMatchObject({ stopReason: 'pending_approval', pending: { runId: 'run-p', approvalId: 'appr-1' } });
    // the sibling call was not proposed
    expect(gate.calls).toHaveLength(1);
  });

  it('refuses bad options clearly', async () => {
    const model = scripted([]);
    await expect(runAgent({ goal: 'g', role: 'dev', model })).rejects.toThrow('runAgent needs a client (or a gate)');
    await expect(runAgent({ goal: 'g', role: 'nobody', model, gate: recordingGate(ok) })).rejects.toThrow(
      'role "nobody" has no tools',
    );
    await expect(runAgent({ goal: 'g', role: 'dev', model, gate: recordingGate(ok), maxSteps: 0 })).rejects.toThrow(
      'maxSteps',
    );
  });
});
