import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName } from './system';

const ROOT = join(__dirname, '..', '..');
const PORT_VAR: Record<ServiceName, string> = {
  ingest: 'INGEST_PORT',
  policy: 'POLICY_PORT',
  orchestrator: 'ORCHESTRATOR_PORT',
  approvals: 'APPROVALS_PORT',
  workers: 'WORKERS_PORT',
};

/** One running replica: a service's built dist as an OS process on its own port. */
export interface Replica {
  name: string;
  service: ServiceName;
  port: number;
  child: ChildProcess;
  log: string[];
}

/**
 * Replicas of the services as real OS processes (built dist), each on its own port, for tests that
 * kill -9, SIGSTOP and SIGCONT one replica while the others carry on. Names are `<service>-<n>`.
 * @example const r = new Replicas(env, 19000); await r.start('workers', 1); await r.kill9('workers-1');
 */
export class Replicas {
  readonly running = new Map<string, Replica>();
  readonly logs = new Map<string, string[]>();
  private nextPort: number;

  constructor(
    private readonly env: Record<string, string | undefined>,
    basePort: number,
  ) {
    this.nextPort = basePort;
  }

  /** Starts replica `n` of `service` (a fresh port each start) and waits until it is ready. */
  async start(service: ServiceName, n: number, extraEnv: Record<string, string> = {}): Promise<Replica> {
    const name = `${service}-${n}`;
    const main = join(ROOT, 'services', service, 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
    const port = this.nextPort++;
    const log = this.logs.get(name) ?? [];
    this.logs.set(name, log);
    const child = spawn(process.execPath, [main], {
      env: { ...this.env, ...extraEnv, [PORT_VAR[service]]: String(port), WARDEN_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => log.push(String(d)));
    child.stderr!.on('data', (d) => log.push(String(d)));
    const replica: Replica = { name, service, port, child, log };
    this.running.set(name, replica);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${log.join('').slice(-4000)}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (r.ok) return replica;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${name} not ready after 60 s:\n${log.join('').slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get(name: string): Replica {
    const r = this.running.get(name);
    if (!r) throw new Error(`${name} is not running`);
    return r;
  }

  url(name: string): string {
    return `http://127.0.0.1:${this.get(name).port}`;
  }

  /** SIGKILL: no shutdown hooks, no acks, no commits in flight. */
  async kill9(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    if (r.child.exitCode !== null || r.child.signalCode !== null) return;
    const exited = new Promise((res) => r.child.once('exit', res));
    r.child.kill('SIGCONT'); // a stopped process dies on SIGKILL too, but its exit is reported sooner awake
    r.child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the process freezes with its connections open (a GC pause, a stuck VM). */
  pause(name: string): void {
    this.get(name).child.kill('SIGSTOP');
  }

  /** SIGCONT: a paused process carries on where it stopped. */
  resume(name: string): void {
    this.get(name).child.kill('SIGCONT');
  }

  async stop(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    if (r.child.exitCode !== null || r.child.signalCode !== null) return;
    const exited = new Promise((res) => r.child.once('exit', res));
    r.child.kill('SIGCONT');
    r.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000))]);
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGKILL');
      await exited;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((n) => this.stop(n)));
  }

  /** Sum of a Prometheus counter/gauge on a replica's /metrics, over the lines matching `filter`. */
  async metric(name: string, metric: string, filter = ''): Promise<number> {
    const text = await (await fetch(`${this.url(name)}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => (l.startsWith(`${metric}{`) || l.startsWith(`${metric} `)) && l.includes(filter))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  }
}
