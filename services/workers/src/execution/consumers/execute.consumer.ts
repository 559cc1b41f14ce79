import { Inject, Injectable } from '@nestjs/common';
import { Publisher, makeEnvelope, type BusMessage, type OutgoingMessage } from '@warden/bus';
import { DomainError, deriveId, type SigningKeys } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER, PUBLISHER } from '@warden/runtime';
import type { WorkersConfig } from '../../config';
import { authenticate, parseExecuteCommand, refusalReason } from '../domain/authenticity';
import { ExecutionRepository, refusalKey, type Refusal } from '../projections/execution.repository';
import { RunExecutor, type AuthenticCommand } from '../run-executor.service';
import { ToolRunner } from '../tool-runner.service';
import { VERIFIER_KEYS } from '../tokens';
import { workersMetrics } from '../workers.metrics';

interface Refused {
  index: number;
  msg: BusMessage;
  body: unknown;
  err: DomainError;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRACE = /^(?!0{32})[0-9a-f]{32}$/;

/**
 * Handles batches of `cmd.workers.<role>.execute` messages: authenticity and the role's tools first,
 * then at-most-once execution. A refused command (inauthentic, another role's tool, a replay of an
 * executed run) runs nothing: it is announced as `command_refused` (on the run's subject when its
 * run id is a UUID, else on `events.refused.<token>`), recorded, counted, and dead-lettered. A
 * refusal never changes a run's status, with one exception: an AUTHENTIC command whose tool is not
 * in this role ends its (unclaimed) run `failed` with `TOOL.NOT_IN_ROLE`, claimed like any outcome.
 */
@Injectable()
export class ExecuteConsumer {
  private readonly log: Logger;

  constructor(
    @Inject(VERIFIER_KEYS) private readonly keys: SigningKeys,
    private readonly repo: ExecutionRepository,
    private readonly executor: RunExecutor,
    private readonly runner: ToolRunner,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(CONFIG) private readonly config: WorkersConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('execute');
  }

  /** Per message, in order: `undefined` for success, else the error that settles it. */
  async handleBatch(msgs: readonly BusMessage[], role: string): Promise<(unknown | undefined)[]> {
    const outcomes: (unknown | undefined)[] = msgs.map(() => undefined);
    const authentic: (AuthenticCommand & { index: number })[] = [];
    const refused: Refused[] = [];
    const bodies: unknown[] = [];
    msgs.forEach((msg, index) => {
      let body: unknown;
      try {
        body = msg.json();
        bodies[index] = body;
        const cmd = parseExecuteCommand(body);
        const action = authenticate(this.keys, cmd, role);
        // authentic, so the run is ended (run_failed) rather than left queued; it is still refused
        const refusal = this.runner.has(role, action.tool)
          ? undefined
          : new DomainError('COMMAND.TOOL_NOT_IN_ROLE', `role "${role}" has no tool "${action.tool}"`, {
              run_id: cmd.run_id,
            });
        authentic.push({ index, cmd, action, seq: msg.seq, ...(refusal ? { refusal } : {}) });
      } catch (err) {
        if (err instanceof DomainError) refused.push({ index, msg, body, err });
        else outcomes[index] = err;
      }
    });
    const [refusals, executions] = await Promise.all([
      this.refuse(refused, role),
      this.executor.executeBatch(authentic).catch((err: unknown) => authentic.map(() => err)),
    ]);
    refused.forEach((r, i) => (outcomes[r.index] = refusals[i]));
    // replays (and tools outside the role) settle after executing (they need the run's claim): refused the same way
    const replays: Refused[] = [];
    authentic.forEach((a, i) => {
      const out = executions[i];
      if (out instanceof DomainError)
        replays.push({ index: a.index, msg: msgs[a.index]!, body: bodies[a.index], err: out });
      else outcomes[a.index] = out;
    });
    const replayed = await this.refuse(replays, role);
    replays.forEach((r, i) => (outcomes[r.index] = replayed[i]));
    return outcomes;
  }

  /**
   * Publishes a `command_refused` per refusal (pipelined) and records them in one statement; each
   * settles with its refusal (dead-lettered), or is retried if either step failed.
   */
  private async refuse(refused: readonly Refused[], role: string): Promise<unknown[]> {
    if (refused.length === 0) return [];
    const rows: Refusal[] = refused.map(({ msg, body, err }) => {
      const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
      return {
        runId: idLike(fields.run_id),
        commandId: idLike(fields.command_id),
        role,
        reason: refusalReason(err),
        code: err.code,
        detail: err.message,
        subject: msg.subject,
        streamSeq: msg.seq,
      };
    });
    const events = refused.map((r, i) => this.refusedEvent(r, rows[i]!));
    const published = await Promise.allSettled(events.map((m) => this.publisher.publish(m)));
    let recorded: Set<string>;
    try {
      recorded = await this.repo.recordRefusals(rows);
    } catch (err) {
      // unrecorded refusals are retried, not dead-lettered
      return refused.map(() => err);
    }
    rows.forEach((r) => {
      // count each refused message once, even if dead-lettering it is retried
      if (recorded.has(refusalKey(r.subject, r.streamSeq))) workersMetrics.refused.inc({ reason: r.reason });
      this.log.warn('command refused', { run_id: r.runId, role, code: r.code, reason: r.detail });
    });
    return refused.map((r, i) => {
      const p = published[i]!;
      return p.status === 'rejected' ? (p.reason ?? new Error('command_refused publish failed')) : r.err;
    });
  }

  /** The `command_refused` event of one refused message; its id derives from the message, so retries dedupe. */
  private refusedEvent(r: Refused, row: Refusal): OutgoingMessage {
    const fields = (typeof r.body === 'object' && r.body !== null ? r.body : {}) as Record<string, unknown>;
    const runId = typeof fields.run_id === 'string' && UUID.test(fields.run_id) ? fields.run_id.toLowerCase() : null;
    const id = deriveId('command_refused', row.subject, String(row.streamSeq));
    const traceId =
      typeof fields.trace_id === 'string' && TRACE.test(fields.trace_id) ? fields.trace_id : id.replace(/-/g, '');
    return this.publisher.eventMessage(
      makeEnvelope({
        type: 'command_refused',
        id,
        runId,
        // without a usable run id, the event's own id is the subject token
        correlationId: runId ?? id,
        causationId: row.commandId && UUID.test(row.commandId) ? row.commandId : null,
        producer: 'workers',
        traceId,
        data: {
          ...(row.commandId ? { command_id: row.commandId } : {}),
          role: row.role,
          worker_id: this.config.WORKER_ID,
          code: row.code,
          reason: row.detail.slice(0, 2000),
        },
      }),
    );
  }
}

function idLike(v: unknown): string | null {
  return typeof v === 'string' && v.length <= 100 ? v : null;
}
