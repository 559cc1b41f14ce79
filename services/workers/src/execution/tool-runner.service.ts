import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Action, RunResult } from '@warden/contracts';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER } from '@warden/runtime';
import { toolSettings, type WorkersConfig } from '../config';
import { executionLimits } from './domain/constraints';
import { capResult, failureResult } from './domain/result';
import { planSandbox, type SandboxPlan } from './sandbox/capabilities';
import { SandboxPool } from './sandbox/sandbox-pool';
import { runTool } from './tools/run-tool';
import type { ToolSettings } from './tools/tool';
import { ToolRegistry } from './tools/tool-registry';
import { WORKSPACE_ROOT } from './tokens';

/** The environment of a sandbox: nothing of the worker's (no keys, no database URL). */
export const SANDBOX_ENV: Record<string, string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/nonexistent',
  NODE_ENV: 'production',
};

/**
 * Runs an authenticated action with its role's tools: in a sandbox process (default) or, with
 * `WORKER_SANDBOX=inline`, in the worker itself. Never throws: every failure is a RunResult.
 */
@Injectable()
export class ToolRunner implements OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private readonly settings: ToolSettings;
  private pools?: { network: SandboxPool; offline: SandboxPool };
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
    this.plan = planSandbox({
      memoryMb: c.WORKER_SANDBOX_MEMORY_MB,
      cpuSeconds: c.WORKER_SANDBOX_CPU_SECONDS,
      nproc: c.WORKER_SANDBOX_NPROC,
      fsizeMb: c.WORKER_SANDBOX_FSIZE_MB,
      user: c.WORKER_SANDBOX_USER,
    });
    for (const w of this.plan.warnings) this.log.warn(`sandbox degraded: ${w}`);
    this.log.info('sandbox', { enforced: this.plan.enforced.join('; '), reuse: c.WORKER_SANDBOX_REUSE });
    const roles = c.WORKER_ROLES.map((r) => this.registry.forRole(r));
    const needs = (network: boolean) => roles.some((r) => r.names().some((n) => !!r.get(n)!.network === network));
    const common = { reuse: c.WORKER_SANDBOX_REUSE, env: SANDBOX_ENV, log: this.log };
    this.pools = {
      network: new SandboxPool({
        ...common,
        prefix: this.plan.withNetwork,
        warm: needs(true) ? c.WORKER_SANDBOX_WARM : 0,
      }),
      offline: new SandboxPool({
        ...common,
        prefix: this.plan.withoutNetwork,
        warm: needs(false) ? c.WORKER_SANDBOX_WARM : 0,
      }),
    };
    await Promise.all([this.pools.network.warmUp(), this.pools.offline.warmUp()]);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.pools?.network.close(), this.pools?.offline.close()]);
  }

  /** True if `role`'s worker has the tool. */
  has(role: string, tool: string): boolean {
    return !!this.registry.forRole(role).get(tool);
  }

  /** A bounded metric label for a tool name. */
  label(tool: string): string {
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
    if (!this.pools) {
      const result = await runTool(tools, action, {
        root: this.root,
        constraints,
        settings: limits.settings,
        signal: AbortSignal.timeout(limits.timeoutMs),
      });
      return capResult(result, limits.maxOutputBytes);
    }
    const pool = tool.network ? this.pools.network : this.pools.offline;
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
