import { makeEnvelope } from '@warden/bus';
import type { AnyEnvelope, Decision, EventType, EventData } from '@warden/contracts';
import {
  emptyView,
  evolveView,
  pendingResult,
  refusedResult,
  terminalResult,
  viewTerminal,
  type RunView,
} from './run-view';

const RUN = '0b6c5e9e-8a43-4a43-9d7f-1b2a3c4d5e6f';
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const HINTS = { dashboardUrl: 'http://dash.example/' };

function ev<T extends EventType>(type: T, data: EventData<T>, producer = 'orchestrator'): AnyEnvelope {
  return makeEnvelope({ type, runId: RUN, producer, traceId: TRACE, data }) as unknown as AnyEnvelope;
}

const decision = (over: Partial<Decision> = {}): Decision =>
  ({
    outcome: 'allow',
    tier: 1,
    mode: 'enforce',
    rule_ids: ['fs-write-workspace'],
    reasons: ['writes inside the workspace'],
    constraints: {},
    policy_version: 'v1',
    policy_digest: `sha256:${'a'.repeat(64)}`,
    input_hash: `sha256:${'b'.repeat(64)}`,
    trace_id: TRACE,
    evaluated_at: '2026-01-01T00:00:00.000Z',
    ...over,
  }) as Decision;

const received = ev(
  'task_received',
  {
    submission: {
      run_id: RUN,
      agent: { id: 'a', role: 'dev' },
      session_id: 's',
      action: { tool: 'fs.write_file', args: { path: 'a.md', content: 'x' } },
    },
    channel: 'mcp',
  } as EventData<'task_received'>,
  'ingest',
);
const result = { output: { path: 'a.md', bytes_written: 1, created: true }, output_hash: `sha256:${'c'.repeat(64)}` };

const fold = (events: AnyEnvelope[]): RunView => events.reduce(evolveView, emptyView(RUN));

describe('the MCP view of a run', () => {
  it('allowed and succeeded: structured output, a text block, and _meta["warden/run"]', () => {
    const v = fold([
      received,
      ev('decision_made', decision(), 'policy'),
      ev('run_queued', { role: 'dev', subject: 'x', action: { tool: 'fs.write_file', args: {} } }),
      ev('run_started', { worker_id: 'w', attempt: 1 }, 'workers'),
      ev('run_succeeded', { result }, 'workers'),
    ]);
    expect(viewTerminal(v)).toBe(true);
    const r = terminalResult(v);
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toEqual(result.output);
    expect(r.content[0]!.text).toContain('bytes_written');
    expect(r._meta).toEqual({
      'warden/run': {
        run_id: RUN,
        status: 'succeeded',
        outcome: 'allow',
        tier: 1,
        policy_digest: `sha256:${'a'.repeat(64)}`,
      },
    });
  });

  it('a compute rewrite says what was changed', () => {
    const v = fold([
      received,
      ev(
        'decision_made',
        decision({
          outcome: 'compute',
          rule_ids: ['email-to-draft'],
          reasons: ['outbound email becomes a draft'],
          rewritten_action: { tool: 'email.draft', args: { to: 'x@example.com', subject: 's', text: 't' } },
        }),
        'policy',
      ),
      ev('run_queued', { role: 'dev', subject: 'x', action: { tool: 'email.draft', args: {} } }),
      ev('run_succeeded', { result }, 'workers'),
    ]);
    const text = terminalResult(v).content[0]!.text;
    expect(text).toMatch(/changed this call/);
    expect(text).toContain('email.draft');
    expect(text).toContain('email-to-draft');
  });

  it('denied: isError with reasons, rule ids and what to do instead', () => {
    const v = fold([
      received,
      ev(
        'decision_made',
        decision({ outcome: 'deny', rule_ids: ['path-escape'], reasons: ['path escapes'] }),
        'policy',
      ),
      ev('run_denied', { reasons: ['path escapes'], rule_ids: ['path-escape'] }),
    ]);
    const r = terminalResult(v);
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toMatch(/path-escape[\s\S]*path escapes[\s\S]*Do not repeat/);
  });

  it('escalated: waits; rejected → isError with the comment; a success after the terminal status changes nothing', () => {
    const requested = ev('approval_requested', {
      approval_id: RUN,
      tier: 2,
      required_votes: 1,
      expires_at: '2026-01-01T01:00:00.000Z',
      agent: { id: 'a', role: 'dev' },
      action: { tool: 'fs.write_file', args: {} },
      decision: decision({ outcome: 'escalate', tier: 2 }),
    });
    const waiting = fold([
      received,
      ev('decision_made', decision({ outcome: 'escalate', tier: 2 }), 'policy'),
      requested,
    ]);
    expect(waiting.status).toBe('awaiting_approval');
    const pending = pendingResult(waiting, HINTS, 'warden.await_run');
    expect(pending.isError).toBeUndefined();
    expect(pending.content[0]!.text).toMatch(/still waiting[\s\S]*http:\/\/dash\.example\/[\s\S]*warden\.await_run/);
    expect(pending.structuredContent).toMatchObject({ waiting: true, run_id: RUN, approval_id: RUN });

    const rejected = [
      ev('approval_vote', { approval_id: RUN, operator: 'alice', vote: 'reject', comment: 'not today' }, 'approvals'),
      ev('approval_rejected', { approval_id: RUN, operators: ['alice'] }, 'approvals'),
      ev('run_succeeded', { result }, 'workers'),
    ].reduce(evolveView, waiting);
    expect(rejected.status).toBe('rejected');
    const r = terminalResult(rejected);
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toContain('alice: "not today"');
  });

  it("ignores another run's events", () => {
    const other = makeEnvelope({
      type: 'run_succeeded',
      runId: '11111111-1111-4111-8111-111111111111',
      producer: 'workers',
      traceId: TRACE,
      data: { result },
    }) as unknown as AnyEnvelope;
    expect(fold([received, other]).status).toBe('received');
  });

  it('a refused call names every field and carries a run meta without a run', () => {
    const r = refusedResult('Invalid arguments', [{ path: 'arguments.path', message: 'expected string' }]);
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toContain('- arguments.path: expected string');
    expect(r._meta).toMatchObject({ 'warden/run': { run_id: null, status: 'not_submitted' } });
  });

  it('follows the one run status machine: a client-executed run ends by its settlement, late events change nothing', () => {
    const grantId = '1b6c5e9e-8a43-4a43-9d7f-1b2a3c4d5e70';
    const granted = ev('execution_granted', { grant: { grant_id: grantId }, signature: 'ed25519:x' } as never);
    const v = fold([
      received,
      ev('decision_made', decision(), 'policy'),
      granted,
      ev('execution_succeeded', { grant_id: grantId, result, reason: 'reported' }),
      ev('run_failed', { result: { ...result, error: { code: 'X', message: 'late' } } } as never, 'workers'),
    ]);
    expect(v.status).toBe('succeeded');
    expect(v.result).toEqual(result);
    expect(fold([received, granted]).status).toBe('running');
    // a status event out of order (started before queued) does not move the view, as in the orchestrator
    expect(fold([received, ev('run_started', { worker_id: 'w', attempt: 1 }, 'workers')]).status).toBe('received');
  });
});
