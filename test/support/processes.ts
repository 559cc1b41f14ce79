import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName } from './system';

const ROOT = join(__dirname, '..', '..');

/** The five services as real OS processes (built dist), for tests that kill -9. */
export class Processes {
  private readonly procs = new Map<ServiceName, ChildProcess>();
  readonly logs = new Map<ServiceName, string[]>();

  constructor(
    private readonly env: Record<string, string | undefined>,
    readonly basePort: number,
  ) {}

  port(name: ServiceName): number {
    return this.basePort + ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'].indexOf(name);
  }

  async start(name: ServiceName): Promise<void> {
    const main = join(ROOT, 'services', name, 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
    const child = spawn(process.execPath, [main], {
      env: { ...this.env, [`${name.toUpperCase()}_PORT`]: String(this.port(name)), WARDEN_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = this.logs.get(name) ?? [];
    this.logs.set(name, log);
    child.stdout!.on('data', (d) => log.push(String(d)));
    child.stderr!.on('data', (d) => log.push(String(d)));
    this.procs.set(name, child);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${log.join('')}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.port(name)}/health/ready`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${name} not ready after 30 s:\n${log.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL: no shutdown hooks, no acks, no commits in flight. */
  async kill9(name: ServiceName): Promise<void> {
    const child = this.procs.get(name);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.procs.delete(name);
  }

  async stop(name: ServiceName): Promise<void> {
    const child = this.procs.get(name);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    this.procs.delete(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.stop(n)));
  }
}
