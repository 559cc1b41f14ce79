import { Inject, Injectable } from '@nestjs/common';
import type { Action, ExecuteCommand, RunResult } from '@warden/contracts';
import { Publisher, makeEnvelope } from '@warden/bus';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER, PUBLISHER } from '@warden/runtime';
import type { WorkersConfig } from '../config';
import { planExecution } from './domain/execution-plan';
import { outcomeUnknownResult } from './domain/result';
import { ExecutionRepository, type ExecutionRow } from './repositories/execution.repository';
import { runTool } from './tools/run-tool';
import { ToolRegistry } from './tools/tool-registry';
import { WORKSPACE_ROOT } from './tokens';
import { workersMetrics } from './workers.metrics';

const PRODUCER = 'workers';

/**
 * Executes an authenticated command at most once per run. The claim row is committed before the
 * tool runs; every event's id derives from the claiming command's id, so a redelivery or a second
 * command for the run republishes the very same events instead of running anything again.
 */
@Injectable()
export class RunExecutor {
  private readonly log: Logger;

  constructor(
    private readonly repo: ExecutionRepository,
    private readonly tools: ToolRegistry,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(WORKSPACE_ROOT) private readonly root: string,
    @Inject(CONFIG) private readonly config: WorkersConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('executor');
  }

  async execute(cmd: ExecuteCommand, action: Action): Promise<void> {
    await this.repo.withRunLock(cmd.run_id, async () => {
      const existing = await this.repo.find(cmd.run_id);
      const claimedTool = existing ? existing.tool : action.tool;
      const plan = planExecution(existing, this.tools.get(claimedTool)?.idempotent ?? true);
      switch (plan.kind) {
        case 'execute': {
          const row = await this.repo.claim({
            runId: cmd.run_id,
            commandId: cmd.command_id,
            action,
            traceId: cmd.trace_id,
            workerId: this.config.WORKER_ID,
          });
          // only a run-lock hash collision gets here; retry and re-plan
          if (!row) throw new Error(`run ${cmd.run_id} was claimed concurrently`);
          try {
            await this.publishStarted(row);
          } catch (err) {
            // nothing ran yet: give the claim back so the retry is a clean first attempt
            await this.repo.unclaim(row.run_id, row.command_id).catch((e: unknown) =>
              this.log.error('could not release claim; a retry will end outcome_unknown for non-idempotent tools', {
                run_id: row.run_id,
                error: e as Error,
              }),
            );
            throw err;
          }
          await this.runAndFinish(row);
          return;
        }
        case 'republish': {
          this.log.info('run already executed; republishing its completion', {
            run_id: cmd.run_id,
            command_id: cmd.command_id,
            claimed_by_command: existing!.command_id,
          });
          await this.publishCompletion(existing!);
          workersMetrics.executions.inc({ tool: this.toolLabel(existing!.tool), outcome: 'duplicate' });
          return;
        }
        case 'reexecute': {
          this.log.warn('re-executing an idempotent run whose worker stopped mid-execution', {
            run_id: cmd.run_id,
            previous_worker: existing!.worker_id,
            attempt: plan.attempt,
          });
          const row = await this.repo.restart(cmd.run_id, plan.attempt, this.config.WORKER_ID);
          await this.publishStarted(row);
          await this.runAndFinish(row);
          return;
        }
        case 'outcome_unknown': {
          this.log.warn('a non-idempotent run was interrupted mid-execution; failing it outcome_unknown', {
            run_id: cmd.run_id,
            tool: existing!.tool,
            previous_worker: existing!.worker_id,
          });
          // the interrupted worker may not have got to publish it; same id, so at most one copy
          await this.publishStarted(existing!);
          const row = await this.finishWithRetry(existing!.run_id, 'failed', outcomeUnknownResult(existing!.tool));
          await this.publishCompletion(row);
          workersMetrics.executions.inc({ tool: this.toolLabel(row.tool), outcome: 'outcome_unknown' });
          return;
        }
      }
    });
  }

  private async runAndFinish(row: ExecutionRow): Promise<void> {
    const result = await runTool(this.tools, row.action, { root: this.root });
    const status = result.error ? 'failed' : 'succeeded';
    const done = await this.finishWithRetry(row.run_id, status, result);
    await this.publishCompletion(done);
    workersMetrics.executions.inc({ tool: this.toolLabel(row.tool), outcome: status });
    this.log.info('run executed', { run_id: row.run_id, tool: row.tool, status, error_code: result.error?.code });
  }

  /**
   * The tool has run: losing its outcome now would turn a known result into `outcome_unknown`, so
   * a Postgres hiccup is retried here for a while before giving up to redelivery.
   */
  private async finishWithRetry(
    runId: string,
    status: 'succeeded' | 'failed',
    result: RunResult,
  ): Promise<ExecutionRow> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.repo.finish(runId, status, result);
      } catch (err) {
        if (attempt >= 6) throw err;
        const delay = 200 * 2 ** attempt;
        this.log.warn('recording a run result failed; retrying', {
          run_id: runId,
          attempt,
          delay_ms: delay,
          error: err as Error,
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async publishStarted(row: ExecutionRow): Promise<void> {
    await this.publisher.publishEvent(
      makeEnvelope({
        type: 'run_started',
        runId: row.run_id,
        producer: PRODUCER,
        traceId: row.trace_id,
        causationId: row.command_id,
        correlationId: row.run_id,
        occurredAt: row.started_at,
        data: { worker_id: row.worker_id, attempt: row.attempt },
      }),
    );
  }

  private async publishCompletion(row: ExecutionRow): Promise<void> {
    const result = row.result!;
    const common = {
      runId: row.run_id,
      producer: PRODUCER,
      traceId: row.trace_id,
      causationId: row.command_id,
      correlationId: row.run_id,
      occurredAt: row.finished_at ?? undefined,
      data: { result },
    };
    await this.publisher.publishEvent(
      row.status === 'succeeded'
        ? makeEnvelope({ type: 'run_succeeded', ...common })
        : makeEnvelope({ type: 'run_failed', ...common }),
    );
  }

  private toolLabel(tool: string): string {
    return this.tools.get(tool) ? tool : 'unknown';
  }
}
