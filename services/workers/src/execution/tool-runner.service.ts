import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Action, RunResult } from '@warden/contracts';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER } from '@warden/runtime';
import { toolSettings, type WorkersConfig } from '../config';
import { executionLimits } from './domain/constraints';
import { capResult, failureResult } from './domain/result';
import { planSandbox, sandboxCode, type SandboxKind, type SandboxPlan } from '../sandbox/capabilities';
import { SandboxPool, sandboxEntry } from '../sandbox/sandbox-pool';
import { runTool } from '../tools/run-tool';
import type { Tool, ToolSettings } from '../tools/domain/tool';
import { ToolRegistry } from '../tools/tool-registry';
import { WORKSPACE_ROOT } from './tokens';
import { registerPools, workersMetrics } from './workers.metrics';

/** The environment of a sandbox: nothing of the worker's (no keys, no database URL). */
export const SANDBOX_ENV: Record<string, string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/nonexistent',
  NODE_ENV: 'production',
  TMPDIR: '/tmp',
};

/** The sandbox a tool runs in: git tools (which write the repository) get `.git` writable. */
const kindOf = (tool: Tool): SandboxKind => ({ network: !!tool.network, repository: tool.name.startsWith('git.') });
const sameKind = (tool: Tool, k: SandboxKind) =>
  kindOf(tool).network === k.network && kindOf(tool).repository === k.repository;
const poolKey = (k: SandboxKind) => `${k.network ? 'network' : 'offline'}${k.repository ? '+repository' : ''}`;

/** Hands `dir` (recursively, never following symlinks) to the sandbox user, unless it already owns it. */
function giveTo(dir: string, user: { uid: number; gid: number }): void {
  const st = statSync(dir);
  if (st.uid === user.uid && st.gid === user.gid) return;
  spawnSync('chown', ['-R', '-P', '-h', `${user.uid}:${user.gid}`, '--', dir], { stdio: 'ignore' });
}

/**
 * Runs an authenticated action with its role's tools: in a sandbox process (default) or, with
 * `WORKER_SANDBOX=inline`, in the worker itself. Never throws: every failure is a RunResult.
 */
@Injectable()
export class ToolRunner implements OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private readonly settings: ToolSettings;
  /** One pool per {@link SandboxKind} (network or not, repository writable or not). */
  private readonly pools = new Map<string, SandboxPool>();
  private unregisterPools?: () => void;
  plan?: SandboxPlan;

  constructor(
    private readonly registry: ToolRegistry,
    @Inject(WORKSPACE_ROOT) private readonly root: string,
    @Inject(CONFIG) private readonly config: WorkersConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('sandbox');
    this.settings = toolSettings(config);
  }

  async onModuleInit(): Promise<void> {
    if (this.config.WORKER_SANDBOX === 'inline') {
      this.log.warn('WORKER_SANDBOX=inline: tools run inside the worker process, without isolation or limits');
      return;
    }
    const c = this.config;
    const entry = sandboxEntry();
    const files = [...this.settings.shell.allow.filter((p) => path.isAbsolute(p)), process.execPath].filter(
      (p) => !p.startsWith('/usr/') && existsSync(p),
    );
    const writable = this.settings.email.outbox ? [this.settings.email.outbox] : [];
    for (const w of writable) mkdirSync(w, { recursive: true });
    this.plan = planSandbox({
      memoryMb: c.WORKER_SANDBOX_MEMORY_MB,
      cpuSeconds: c.WORKER_SANDBOX_CPU_SECONDS,
      nproc: c.WORKER_SANDBOX_NPROC,
      totalMemoryMb: c.WORKER_SANDBOX_TOTAL_MEMORY_MB,
      fsizeMb: c.WORKER_SANDBOX_FSIZE_MB,
      user: c.WORKER_SANDBOX_USER,
      production: c.NODE_ENV === 'production',
      view: existsSync(entry) ? { workspace: this.root, code: sandboxCode(entry), files, writable } : undefined,
    });
    for (const w of this.plan.warnings) this.log.warn(`sandbox degraded: ${w}`);
    // the sandbox user owns what it writes: the workspace (with its repository) and the outbox
    if (this.plan.user) for (const d of [this.root, ...writable]) giveTo(d, this.plan.user);
    this.log.info('sandbox', {
      enforced: this.plan.enforced.join('; '),
      reuse: c.WORKER_SANDBOX_REUSE,
      // sandbox-loader.js: the build's bundle and code cache; sandbox-child.js: the plain modules
      entry: path.basename(entry),
    });
    const roles = c.WORKER_ROLES.map((r) => this.registry.forRole(r));
    const common = {
      reuse: c.WORKER_SANDBOX_REUSE,
      growAfterMs: c.WORKER_SANDBOX_GROW_AFTER_MS,
      env: SANDBOX_ENV,
      log: this.log,
    };
    for (const network of [false, true]) {
      for (const repository of [false, true]) {
        const kind = { network, repository };
        const needed = roles.some((r) => r.names().some((n) => sameKind(r.get(n)!, kind)));
        this.pools.set(
          poolKey(kind),
          new SandboxPool({
            ...common,
            prefix: this.plan.prefix(kind),
            warm: needed ? c.WORKER_SANDBOX_WARM : 0,
            onStart: (reason) => workersMetrics.sandboxStarts.inc({ pool: poolKey(kind), reason }),
          }),
        );
      }
    }
    await Promise.all([...this.pools.values()].map((p) => p.warmUp()));
    this.unregisterPools = registerPools(() => [...this.pools].map(([pool, p]) => ({ pool, ...p.state() })));
  }

  async onApplicationShutdown(): Promise<void> {
    this.unregisterPools?.();
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.plan?.cleanup();
  }

  /** True if `role`'s worker has the tool. */
  has(role: string, tool: string): boolean {
    return !!this.registry.forRole(role).get(tool);
  }

  /** A bounded metric label for a tool name. */
  label(tool: string): string {
    const upstream = this.registry.sourceLabel(tool);
    if (upstream) return upstream;
    if (!this.registry.get(tool)) return 'unknown';
    return tool.startsWith('deploy.') ? 'deploy.*' : tool;
  }

  /** Idempotency of a tool (unknown tools count as idempotent: they never run). */
  idempotent(tool: string): boolean {
    return this.registry.get(tool)?.idempotent ?? true;
  }

  /**
   * Runs `action` with `role`'s tools under the decision's constraints: `timeout_seconds` clamps the
   * wall clock (and every tool's own time cap), `max_output_bytes` the output (also re-checked here on
   * what the sandbox answered); `env_allow` and `allowed_hosts` travel in the constraints to the
   * tools that start programs or open connections.
   */
  async run(role: string, action: Action, constraints: Record<string, unknown> = {}): Promise<RunResult> {
    const tools = this.registry.forRole(role);
    const tool = tools.get(action.tool);
    if (!tool) return failureResult({ code: 'TOOL.UNKNOWN', message: `role ${role} has no tool "${action.tool}"` });
    const limits = executionLimits(constraints, this.config.WORKER_TOOL_TIMEOUT_MS, this.settings);
    // a tool on a session the worker holds (upstream MCP) runs here; its server is what is sandboxed
    if (this.pools.size === 0 || tool.inWorker) {
      const result = await runTool(tools, action, {
        root: this.root,
        constraints,
        settings: limits.settings,
        signal: AbortSignal.timeout(limits.timeoutMs),
      });
      return capResult(result, limits.maxOutputBytes);
    }
    const pool = this.pools.get(poolKey(kindOf(tool)))!;
    const result = await pool.execute(
      {
        action,
        tools: this.registry.rolePatterns(role),
        root: this.root,
        constraints,
        settings: limits.settings,
        timeoutMs: limits.timeoutMs,
      },
      { idempotent: tool.idempotent, spawns: !!tool.spawns },
    );
    return capResult(result, limits.maxOutputBytes);
  }
}
