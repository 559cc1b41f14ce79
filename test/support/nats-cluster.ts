import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
export const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
/** The shipped cluster node config that NATS 2.9 accepts (nats.conf adds sync_interval for >= 2.10). */
export const CLUSTER_NODE_CONF = join(ROOT, 'deploy', 'nats', 'cluster', 'node.conf');

/** A free TCP port on loopback (bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Node {
  name: string;
  port: number;
  httpPort: number;
  clusterPort: number;
  storeDir: string;
  proc?: ChildProcess;
  log: string[];
}

/**
 * A private NATS cluster on this machine: `size` nats-server processes started from
 * deploy/nats/cluster/node.conf, on free loopback ports and their own store directories (never the
 * machine's NATS on 4222). Nodes can be killed -9 and restarted on the same store.
 */
export class NatsCluster {
  readonly nodes: Node[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), 'warden-nats-cluster-'));

  /** Every node's client URL, comma-separated: what services get as NATS_URL. */
  get url(): string {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  }

  /**
   * Starts `size` nodes on free ports. A free port is only free until someone else binds it (tests
   * run side by side): a node that finds one of its ports taken fails the attempt, and the cluster
   * starts again on new ports (three attempts).
   */
  async start(size = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.nodes.length = 0;
      for (let i = 1; i <= size; i++)
        this.nodes.push({
          name: `warden-test-${i}`,
          port: await freePort(),
          httpPort: await freePort(),
          clusterPort: await freePort(),
          storeDir: join(this.root, `n${i}-${attempt}`),
          log: [],
        });
      for (const n of this.nodes) this.spawn(n);
      try {
        await this.waitHealthy();
        return;
      } catch (err) {
        const taken = this.nodes.some((n) => n.log.join('').includes('address already in use'));
        if (!taken || attempt >= 3) throw err;
        await Promise.all(
          this.nodes.map(
            (n) =>
              new Promise<void>((resolve) => {
                if (!n.proc || n.proc.exitCode !== null) return resolve();
                n.proc.once('exit', () => resolve());
                n.proc.kill('SIGKILL');
              }),
          ),
        );
      }
    }
  }

  private spawn(n: Node): void {
    const routes = Object.fromEntries(
      this.nodes.map((m, i) => [`NATS_ROUTE_${i + 1}`, `nats://127.0.0.1:${m.clusterPort}`]),
    );
    // loopback only: -a covers the client and monitoring listeners, --cluster the route listener
    const args = ['-c', CLUSTER_NODE_CONF, '-a', '127.0.0.1', '--cluster', `nats://127.0.0.1:${n.clusterPort}`];
    const proc = spawn(NATS_SERVER, args, {
      env: {
        PATH: process.env.PATH,
        NATS_SERVER_NAME: n.name,
        NATS_PORT: String(n.port),
        NATS_HTTP_PORT: String(n.httpPort),
        NATS_CLUSTER_PORT: String(n.clusterPort),
        NATS_STORE_DIR: n.storeDir,
        ...routes,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d) => n.log.push(String(d)));
    proc.stderr!.on('data', (d) => n.log.push(String(d)));
    n.proc = proc;
  }

  /** Every running node answers /healthz (JetStream current) and the meta group has a leader. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.nodes
          .filter((n) => n.proc)
          .map(async (n) => {
            try {
              const r = await fetch(`http://127.0.0.1:${n.httpPort}/healthz`);
              return r.ok;
            } catch {
              return false;
            }
          }),
      );
      if (states.every(Boolean)) return;
      const dead = this.nodes.find((n) => n.proc && n.proc.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited with ${dead.proc!.exitCode}:\n${dead.log.join('')}`);
      if (Date.now() > deadline)
        throw new Error(
          `NATS cluster not healthy after ${timeoutMs} ms:\n${this.nodes.map((n) => `${n.name}: ${n.log.join('').slice(-2000)}`).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** SIGKILL one node: no lame duck, no flush. */
  async kill9(i: number): Promise<void> {
    const n = this.nodes[i]!;
    const proc = n.proc;
    n.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  /** Starts a killed node again on its own store directory (it catches up from its peers). */
  async restart(i: number): Promise<void> {
    this.spawn(this.nodes[i]!);
    await this.waitHealthy(60_000);
  }

  /** Index of the node named `serverName` (e.g. a stream leader from its cluster info), or -1. */
  indexOf(serverName: string | undefined): number {
    return this.nodes.findIndex((n) => n.name === serverName);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const proc = n.proc;
        n.proc = undefined;
        if (!proc || proc.exitCode !== null) return;
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}
