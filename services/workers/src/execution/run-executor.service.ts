import { Inject, Injectable } from '@nestjs/common';
import type { Action, ExecuteCommand, RunResult } from '@warden/contracts';
import { Publisher, makeEnvelope, type OutgoingMessage } from '@warden/bus';
import { DomainError, TransientError } from '@warden/kernel';
import { Logger, SpanStatusCode, childSpan } from '@warden/observability';
import { CONFIG, LOGGER, PUBLISHER } from '@warden/runtime';
import type { WorkersConfig } from '../config';
import { planBatch, runKey, type RunPlan } from './domain/batch-plan';
import { outcomeUnknownResult } from './domain/result';
import {
  completionEvent,
  completionOutcome,
  decideRun,
  resultStatus,
  settleFollower,
  settleLead,
  type CommandMessage,
  type RunDecision,
} from './domain/settlement';
import { mapLimit } from './map-limit';
import {
  ExecutionRepository,
  RunBusyError,
  type ExecutionRow,
  type Outcome,
  type RowsByRun,
} from './projections/execution.repository';
import { ToolRunner } from './tool-runner.service';
import { workersMetrics } from './workers.metrics';

const PRODUCER = 'workers';
const FINISH_ATTEMPTS = 6;

/** A claim waiting to be marked begun (see {@link RunExecutor.begin}). */
interface BeginRequest {
  runId: string;
  attempt: number;
  resolve: (marked: boolean) => void;
  reject: (err: unknown) => void;
}

/** An authenticated command and the action it may execute. */
export interface AuthenticCommand {
  cmd: ExecuteCommand;
  action: Action;
  /** Stream sequence of the message that carried it. */
  seq: number;
  /**
   * Set when the command is authentic but may not run here (`COMMAND.TOOL_NOT_IN_ROLE`): nothing is
   * executed, but the run is claimed as `failed` and its `run_failed` published, so the run ends
   * instead of waiting forever; the message then settles with this refusal.
   */
  refusal?: DomainError;
}

/** A command of the batch this worker holds the run of, with its place in the batch. */
interface Held {
  index: number;
  item: AuthenticCommand;
  runId: string;
  tool: string;
}

/** One run of a batch, as it moves through the stages. */
interface RunWork {
  plan: RunPlan<Held>;
  /** What the batch does with it (decided once, before anything is claimed). */
  decision: RunDecision;
  lead: AuthenticCommand;
  /** The claim it acts on (new, taken over, or found). */
  row?: ExecutionRow;
  /** Inserted by this batch: given back if its `run_started` cannot be published. */
  claimedNow?: boolean;
  result?: RunResult;
  /** Its finished row, whose completion is published. */
  done?: ExecutionRow;
  /** Settles the run's messages when set; nothing later happens to the run. */
  error?: unknown;
}

/** What settling needs of an authentic command. */
function messageOf(item: AuthenticCommand): CommandMessage {
  return { commandId: item.cmd.command_id, seq: item.seq, ...(item.refusal ? { refusal: item.refusal } : {}) };
}

/**
 * Executes batches of authenticated commands, each run at most once. Per batch: one try-lock of
 * every run, one read of their claims, one statement committing the new claims BEFORE any tool
 * runs, one pipelined publish of the `run_started` events, the tools run concurrently (each marked
 * begun just before it runs, the lanes that start together in one statement), one statement
 * recording the results, one pipelined publish of the completions. A claim whose tool never began
 * (its worker died while it waited for a slot) is handed back to the next delivery and runs there;
 * only a tool that had begun ends `outcome_unknown`. Every event's id derives from
 * the claiming command's id, so a redelivery or a second command for a run republishes the very same
 * events instead of running anything again. What happens to each run and how each message settles
 * is decided by the pure functions of `domain/settlement.ts`; this class loads, acts and publishes.
 */
@Injectable()
export class RunExecutor {
  private readonly log: Logger;
  private beginQueue: BeginRequest[] = [];

  constructor(
    private readonly repo: ExecutionRepository,
    private readonly runner: ToolRunner,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(CONFIG) private readonly config: WorkersConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('executor');
  }

  /**
   * Settles each command: `undefined` once its run's outcome is recorded and published, else the
   * error (a {@link RunBusyError} while another worker holds the run; transient otherwise). Throws
   * only before anything ran.
   */
  async executeBatch(items: readonly AuthenticCommand[]): Promise<(unknown | undefined)[]> {
    const outcomes: (unknown | undefined)[] = items.map(() => undefined);
    if (items.length === 0) return outcomes;
    const runIds = [...new Set(items.map((i) => runKey(i.cmd.run_id)))];
    await this.repo.withRunLocks(runIds, async (locked, claims) => {
      const mine: Held[] = [];
      items.forEach((item, index) => {
        if (locked.has(runKey(item.cmd.run_id)))
          mine.push({ index, item, runId: item.cmd.run_id, tool: item.action.tool });
        else outcomes[index] = new RunBusyError(`run ${item.cmd.run_id} is being executed by another worker`);
      });
      if (mine.length === 0) return;
      const plans = planBatch(mine, claims, (tool) => this.runner.idempotent(tool));
      const runs: RunWork[] = plans.map((plan) => {
        const lead = plan.lead.item;
        const row = claims.get(plan.runId);
        const decision = decideRun(plan.runId, plan.plan, row, messageOf(lead));
        return { plan, decision, lead, row, error: decision.kind === 'refuse' ? decision.error : undefined };
      });
      await this.process(runs);
      for (const run of runs) {
        outcomes[run.plan.lead.index] = settleLead(run.decision, run.error);
        // other copies in the same batch never execute: they settle by the lead's fate and the claim
        for (const f of run.plan.followers)
          outcomes[f.index] = settleFollower(run.plan.runId, run.error, run.row, messageOf(f.item));
      }
    });
    return outcomes;
  }

  private async process(runs: RunWork[]): Promise<void> {
    await this.claim(runs);
    // the run_started events and the begin marks of the lanes that start at once go together (one
    // round trip less on every run's path); a tool runs once both are done, and only if its run_started
    // was published (else its claim is given back: nothing ran under it)
    const announced = this.publishStarts(runs);
    await Promise.all([announced, this.runTools(runs, announced)]);
    await this.finish(runs);
    await this.publishCompletions(runs);
  }

  /**
   * Commits the new claims and the takeovers in one statement, before anything runs. A run refused
   * for a tool outside the role is claimed already finished (`failed`, never started).
   */
  private async claim(runs: RunWork[]): Promise<void> {
    const fresh: { run: RunWork; result?: RunResult }[] = [];
    const taken: { run: RunWork; attempt: number }[] = [];
    for (const run of runs) {
      if (run.error !== undefined) continue;
      const { decision } = run;
      if (decision.kind === 'claim') fresh.push({ run });
      else if (decision.kind === 'end_refused') fresh.push({ run, result: decision.result });
      else if (decision.kind === 'take_over') {
        taken.push({ run, attempt: decision.attempt });
        const context = { run_id: run.plan.runId, previous_worker: run.row?.worker_id };
        if (decision.unstarted)
          this.log.info('taking over a claimed run whose worker stopped before its tool began', context);
        else
          this.log.warn('re-executing an idempotent run whose worker stopped mid-execution', {
            ...context,
            attempt: decision.attempt,
          });
      }
    }
    if (fresh.length + taken.length === 0) return;
    let rows: RowsByRun;
    try {
      rows = await this.repo.claim(
        fresh.map(({ run, result }) => ({
          runId: run.plan.runId,
          commandId: run.lead.cmd.command_id,
          action: run.lead.action,
          traceId: run.lead.cmd.trace_id,
          streamSeq: run.lead.seq,
          ...(result ? { result } : {}),
        })),
        taken.map(({ run, attempt }) => ({ runId: run.plan.runId, attempt })),
        this.config.WORKER_ID,
      );
    } catch (err) {
      for (const { run } of [...fresh, ...taken]) run.error = err;
      return;
    }
    const assigned = new Set<string>();
    for (const { run: r, result } of fresh) {
      const row = rows.get(r.plan.runId);
      if (row instanceof Error)
        r.error = new TransientError(`claiming run ${r.plan.runId} failed: ${row.message}`, row);
      // only a run-lock hash collision gets here; retry and re-plan
      else if (!row) r.error = new TransientError(`run ${r.plan.runId} was claimed concurrently`);
      // one claim, one execution, even if planning ever let a run through twice
      else if (assigned.has(row.run_id)) r.error = new TransientError(`run ${r.plan.runId} is twice in one batch`);
      else {
        assigned.add(row.run_id);
        // a refused run's claim is its ending: nothing starts or runs, its run_failed is published
        Object.assign(r, result ? { row, done: row } : { row, claimedNow: true });
      }
    }
    for (const { run: r } of taken) {
      const row = rows.get(r.plan.runId);
      if (row instanceof Error)
        r.error = new TransientError(`taking over run ${r.plan.runId} failed: ${row.message}`, row);
      else if (!row) r.error = new TransientError(`run ${r.plan.runId} changed while being taken over`);
      else r.row = row;
    }
  }

  /**
   * One pipelined publish of every `run_started` (for the runs about to execute, and again for an
   * interrupted run whose worker may not have got to it) and of every completion republished for a
   * finished run. A run whose event fails is settled with the error; its fresh claim is given back.
   */
  private async publishStarts(runs: RunWork[]): Promise<void> {
    const sent: { run: RunWork; row: ExecutionRow; msg: OutgoingMessage }[] = [];
    for (const run of runs) {
      const { row } = run;
      if (run.error !== undefined || !row || run.done) continue;
      if (run.decision.kind === 'republish') {
        this.log.info('run already executed; republishing its completion', {
          run_id: run.plan.runId,
          command_id: run.lead.cmd.command_id,
          claimed_by_command: row.command_id,
        });
        sent.push({ run, row, msg: this.completionMessage(row) });
      } else {
        if (run.decision.kind === 'outcome_unknown') {
          this.log.warn('a non-idempotent run was interrupted mid-execution; failing it outcome_unknown', {
            run_id: run.plan.runId,
            tool: row.tool,
            previous_worker: row.worker_id,
          });
        }
        sent.push({ run, row, msg: this.startedMessage(row) });
      }
    }
    const failed = await this.publishEach(sent.map((s) => s.msg));
    const giveBack: { runId: string; commandId: string }[] = [];
    sent.forEach(({ run, row }, i) => {
      const err = failed[i];
      if (err !== undefined) {
        run.error = err;
        if (run.claimedNow) giveBack.push({ runId: row.run_id, commandId: row.command_id });
      } else if (run.decision.kind === 'republish') {
        workersMetrics.executions.inc({ tool: this.toolLabel(row.tool), outcome: 'duplicate' });
      }
    });
    // nothing ran under these claims: give them back so the retry is a clean first attempt
    await this.repo.unclaim(giveBack).catch((e: unknown) =>
      this.log.error('could not release claims; a retry will end outcome_unknown for non-idempotent tools', {
        run_ids: giveBack.map((c) => c.runId),
        error: e as Error,
      }),
    );
  }

  /**
   * Runs the claimed tools, at most WORKER_CONCURRENCY at once; an interrupted non-idempotent run is not
   * run. `announced` settles once every `run_started` is published or failed (never rejects): no tool
   * runs before it, nor one whose event failed.
   */
  private async runTools(runs: RunWork[], announced: Promise<void>): Promise<void> {
    const live = runs.flatMap((run) => {
      const { row, decision } = run;
      const runs = decision.kind === 'claim' || decision.kind === 'take_over' || decision.kind === 'outcome_unknown';
      return run.error === undefined && runs && row ? [{ run, row }] : [];
    });
    await mapLimit(live, this.config.WORKER_CONCURRENCY, async ({ run, row }) => {
      if (run.decision.kind === 'outcome_unknown') {
        await announced;
        if (run.error === undefined) run.result = outcomeUnknownResult(row.tool);
        return;
      }
      // the mark that separates a claim waiting for a slot (handed back if this worker dies) from an
      // execution that began (outcome_unknown if it dies); refused if the claim is no longer ours. A
      // fresh claim's goes beside its run_started publish: if that fails, the claim is deleted, begun or
      // not (unclaim), and the tool never runs. A taken-over claim is kept on failure: marked only after
      let begun: boolean;
      try {
        if (run.claimedNow) [begun] = await Promise.all([this.begin(row), announced]);
        else begun = await announced.then(() => run.error === undefined && this.begin(row));
      } catch (err) {
        await announced;
        run.error ??= new TransientError(`marking run ${run.plan.runId} begun failed: ${(err as Error).message}`, err);
        return;
      }
      if (run.error !== undefined) return; // its run_started was not published: nothing runs
      if (!begun) {
        run.error = new RunBusyError(`run ${run.plan.runId} is no longer claimed by this worker; not run`);
        return;
      }
      const { cmd } = run.lead;
      const tool = row.action.tool;
      // GenAI execute_tool span under the command's consume span; the arguments and output stay out
      const span = childSpan('workers', `execute_tool ${tool}`, cmd.trace_id, {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': tool,
        'gen_ai.tool.call.id': cmd.command_id,
        ...(cmd.agent_id ? { 'gen_ai.agent.id': cmd.agent_id } : {}),
        ...(cmd.session_id ? { 'gen_ai.conversation.id': cmd.session_id } : {}),
        'warden.run_id': cmd.run_id,
        'warden.worker.role': cmd.role,
        'warden.worker.id': this.config.WORKER_ID,
        'warden.tier': cmd.decision.tier,
        'warden.decision.outcome': cmd.decision.outcome,
        'warden.policy_digest': cmd.decision.policy_digest,
      });
      const started = process.hrtime.bigint();
      try {
        run.result = await this.runner.run(cmd.role, row.action, cmd.decision.constraints);
      } finally {
        const error = run.result?.error;
        const outcome = run.result ? (error ? 'failed' : 'succeeded') : 'error';
        workersMetrics.executionSeconds.observe(
          { tool: this.toolLabel(tool), outcome },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
        if (error) {
          span?.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
          span?.setAttribute('error.type', error.code);
        }
        span?.end();
      }
    });
  }

  /**
   * Records every result in one statement. The tools have run: losing their outcomes now would turn
   * known results into `outcome_unknown`, so a Postgres hiccup is retried here for a while before
   * giving up to redelivery.
   */
  private async finish(runs: RunWork[]): Promise<void> {
    const pending = runs.flatMap((run) => (run.error === undefined && run.result ? [{ run, result: run.result }] : []));
    if (pending.length === 0) return;
    const outcomes: Outcome[] = pending.map(({ run, result }) => ({
      runId: run.plan.runId,
      status: resultStatus(result),
      result,
    }));
    let rows: RowsByRun | undefined;
    for (let attempt = 1; !rows; attempt++) {
      try {
        rows = await this.repo.finish(outcomes);
      } catch (err) {
        if (attempt >= FINISH_ATTEMPTS) {
          for (const { run } of pending) run.error = err;
          return;
        }
        const delay = 200 * 2 ** attempt;
        this.log.warn('recording run results failed; retrying', {
          run_ids: pending.map(({ run }) => run.plan.runId),
          attempt,
          delay_ms: delay,
          error: err as Error,
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    for (const { run: r } of pending) {
      const row = rows.get(r.plan.runId);
      if (row instanceof Error)
        r.error = new TransientError(`recording run ${r.plan.runId} failed: ${row.message}`, row);
      else if (!row) r.error = new TransientError(`run ${r.plan.runId} was not in status started when finishing`);
      else r.done = row;
    }
  }

  private async publishCompletions(runs: RunWork[]): Promise<void> {
    const done = runs.flatMap((run) => (run.error === undefined && run.done ? [{ run, row: run.done }] : []));
    const failed = await this.publishEach(done.map(({ row }) => this.completionMessage(row)));
    done.forEach(({ run, row }, i) => {
      if (failed[i] !== undefined) {
        run.error = failed[i];
        return;
      }
      const outcome = completionOutcome(run.decision, row.status);
      workersMetrics.executions.inc({ tool: this.toolLabel(row.tool), outcome });
      if (run.decision.kind === 'end_refused') {
        this.log.warn('authentic command for a tool outside the role: run ended failed, nothing executed', {
          run_id: row.run_id,
          tool: row.tool,
        });
      } else if (outcome !== 'outcome_unknown') {
        this.log.info('run executed', {
          run_id: row.run_id,
          tool: row.tool,
          status: row.status,
          error_code: row.result?.error?.code,
        });
      }
    });
  }

  /**
   * Marks a claim's tool begun; the claims of lanes that start in the same turn of the event loop
   * share one statement. False if the claim is no longer this worker's attempt.
   */
  private begin(row: ExecutionRow): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.beginQueue.push({ runId: row.run_id, attempt: row.attempt, resolve, reject }) > 1) return;
      setImmediate(() => {
        const group = this.beginQueue;
        this.beginQueue = [];
        this.repo.begin(group, this.config.WORKER_ID).then(
          (marked) => group.forEach((g) => g.resolve(marked.has(g.runId.toLowerCase()))),
          (err: unknown) => group.forEach((g) => g.reject(err)),
        );
      });
    });
  }

  /** Publishes all at once (pipelined, one write); per message, undefined or why it failed. */
  private async publishEach(msgs: OutgoingMessage[]): Promise<(unknown | undefined)[]> {
    const settled = await Promise.allSettled(msgs.map((m) => this.publisher.publish(m)));
    return settled.map((s) => (s.status === 'rejected' ? (s.reason ?? new Error('publish failed')) : undefined));
  }

  private startedMessage(row: ExecutionRow): OutgoingMessage {
    return this.publisher.eventMessage(
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

  private completionMessage(row: ExecutionRow): OutgoingMessage {
    const { type, result } = completionEvent(row);
    const common = {
      runId: row.run_id,
      producer: PRODUCER,
      traceId: row.trace_id,
      causationId: row.command_id,
      correlationId: row.run_id,
      occurredAt: row.finished_at ?? undefined,
      data: { result },
    };
    return this.publisher.eventMessage(
      type === 'run_succeeded'
        ? makeEnvelope({ type: 'run_succeeded', ...common })
        : makeEnvelope({ type: 'run_failed', ...common }),
    );
  }

  private toolLabel(tool: string): string {
    return this.runner.label(tool);
  }
}
