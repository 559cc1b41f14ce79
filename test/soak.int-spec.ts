import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

interface SoakResult {
  ok: boolean;
  accepted: number;
  terminal_once: number;
  lost: number;
  run_twice: number;
  by_kind: Record<'allow' | 'deny' | 'escalate', number>;
  side_effects: Record<string, number>;
  approvals: { requested: number; decided_once: number };
  read_models_equal_rebuild: boolean;
  work_shared: {
    messages_per_replica: Record<string, number>;
    executions_per_worker: { replica: string; n: number }[];
  };
  kills: { target: string; during: { n: number; p99_ms: number | null } }[];
}

/**
 * `npm run soak -- --quick` (bench/soak.js): two replicas of every service on a private 3-node NATS
 * cluster, allowed, denied and escalated-then-approved proposals, a replica kill -9 every 12 s and
 * one NATS node killed once. Every accepted proposal ends exactly once, nothing is lost or run twice
 * (files and .eml side effects counted), each approval is decided once, read models equal a
 * rebuild — and the work is shared: both replicas of each service handled messages.
 */
describe('soak (quick): two replicas of everything on a 3-node NATS cluster, killed in turn', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'warden-soak-test-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ends every accepted run exactly once with the work shared between replicas', async () => {
    const out = join(dir, 'soak.json');
    const log: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'bench', 'soak.js'), '--quick', '--out', out], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (d) => log.push(String(d)));
      child.stderr.on('data', (d) => log.push(String(d)));
      child.on('exit', resolve);
    });
    const r = JSON.parse(readFileSync(out, 'utf8')) as SoakResult;
    const summary = `${log.join('').slice(-3000)}`;
    expect({ code, ok: r.ok, summary }).toEqual({ code: 0, ok: true, summary });
    expect(r.accepted).toBeGreaterThan(400);
    expect(r.terminal_once).toBe(r.accepted);
    expect(r.lost).toBe(0);
    expect(r.run_twice).toBe(0);
    expect(r.by_kind.deny).toBeGreaterThan(0);
    expect(r.approvals.requested).toBe(r.by_kind.escalate);
    expect(r.approvals.decided_once).toBe(r.approvals.requested);
    expect(r.side_effects).toMatchObject({ writes_missing_or_wrong: 0, emails_missing: 0, emails_sent_twice: 0 });
    expect(r.side_effects.emails_succeeded).toBeGreaterThan(0);
    expect(r.read_models_equal_rebuild).toBe(true);
    // the chaos happened: replicas and one NATS node were killed
    expect(r.kills.length).toBeGreaterThanOrEqual(3);
    expect(r.kills.some((k) => k.target.includes('-nats-'))).toBe(true);
    // work shared: both replicas of every service handled messages, both workers executed runs
    for (const s of ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'])
      for (const n of [1, 2])
        expect({ [`${s}-${n}`]: r.work_shared.messages_per_replica[`${s}-${n}`]! > 0 }).toEqual({
          [`${s}-${n}`]: true,
        });
    expect(r.work_shared.executions_per_worker.map((w) => w.replica).sort()).toEqual(['workers-1', 'workers-2']);
  }, 600_000);
});
