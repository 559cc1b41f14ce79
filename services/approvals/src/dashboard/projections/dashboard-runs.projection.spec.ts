import type { AnyEnvelope } from '@warden/contracts';
import { foldRunPatches } from './dashboard-runs.projection';

const env = (type: string, runId: string, data: Record<string, unknown> = {}, at = '2026-11-21T10:00:00.000Z') =>
  ({
    id: `${type}-${runId}`,
    type,
    run_id: runId,
    occurred_at: at,
    trace_id: 'a'.repeat(32),
    data,
  }) as unknown as AnyEnvelope;

describe('dashboard runs projection (fold)', () => {
  it('follows the run lifecycle in log order', () => {
    const [p] = foldRunPatches([
      env('task_received', 'r1', {
        submission: { agent: { id: 'a', role: 'dev' }, session_id: 's', action: { tool: 'git.push', args: {} } },
      }),
      env('decision_made', 'r1', { outcome: 'escalate', tier: 2 }),
      env('approval_requested', 'r1', {
        approval_id: 'x',
        tier: 2,
        agent: { id: 'a', role: 'dev' },
        action: { tool: 'git.push' },
      }),
      env('approval_granted', 'r1', {}),
      env('run_queued', 'r1', {}, '2026-11-21T10:00:01.000Z'),
    ]);
    expect(p).toMatchObject({
      status: 'queued',
      tool: 'git.push',
      session_id: 's',
      outcome: 'escalate',
      tier: 2,
      approval_id: 'x',
      count: 5,
      last_event: 'run_queued',
      last_at: '2026-11-21T10:00:01.000Z',
    });
  });

  it('never leaves a terminal status, even for later events in the same batch', () => {
    const [p] = foldRunPatches([env('run_cancelled', 'r1'), env('run_started', 'r1'), env('run_succeeded', 'r1')]);
    expect(p!.status).toBe('cancelled');
  });

  it('keeps runs apart and ignores events without a run', () => {
    const ps = foldRunPatches([
      env('run_started', 'r1'),
      env('run_failed', 'r2'),
      { ...env('x', 'r3'), run_id: null } as AnyEnvelope,
    ]);
    expect(ps.map((p) => [p.run_id, p.status])).toEqual([
      ['r1', 'running'],
      ['r2', 'failed'],
    ]);
  });

  it('marks only runs whose task_received is in the batch as received (nothing else opens a run row)', () => {
    const ps = foldRunPatches([
      env('command_refused', 'ghost'),
      env('task_received', 'r1', {
        submission: { agent: { id: 'a', role: 'dev' }, action: { tool: 'fs.read_file', args: {} } },
      }),
      env('run_started', 'r2'),
    ]);
    expect(ps.map((p) => [p.run_id, p.received])).toEqual([
      ['ghost', false],
      ['r1', true],
      ['r2', false],
    ]);
  });

  it('maps approval closures to run statuses (granted waits for run_queued)', () => {
    const requested = { approval_id: 'x', tier: 1, agent: { id: 'a', role: 'dev' }, action: { tool: 'git.push' } };
    const status = (...types: string[]) =>
      foldRunPatches(types.map((t) => env(t, 'r1', t === 'approval_requested' ? requested : {})))[0]?.status;
    expect(status('approval_requested', 'approval_rejected')).toBe('rejected');
    expect(status('approval_requested', 'approval_expired')).toBe('expired');
    expect(status('approval_requested', 'approval_granted', 'approval_vote')).toBe('awaiting_approval');
    expect(status('approval_granted')).toBeNull();
  });
});
