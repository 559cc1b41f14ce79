import { Inject, Injectable } from '@nestjs/common';
import type { BusMessage } from '@warden/bus';
import { DomainError, type SigningKeys } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { LOGGER } from '@warden/runtime';
import { authenticate, parseExecuteCommand, refusalReason } from '../domain/authenticity';
import { ExecutionRepository, refusalKey } from '../repositories/execution.repository';
import { RunExecutor, type AuthenticCommand } from '../run-executor.service';
import { VERIFIER_KEYS } from '../tokens';
import { workersMetrics } from '../workers.metrics';

interface Refused {
  index: number;
  msg: BusMessage;
  body: unknown;
  err: DomainError;
}

/**
 * Handles batches of `cmd.workers.<role>.execute` messages: authenticity first, then at-most-once
 * execution. A refused command runs nothing and publishes no event: it is recorded, counted and
 * settled with its refusal so the consumer dead-letters it.
 */
@Injectable()
export class ExecuteConsumer {
  private readonly log: Logger;

  constructor(
    @Inject(VERIFIER_KEYS) private readonly keys: SigningKeys,
    private readonly repo: ExecutionRepository,
    private readonly executor: RunExecutor,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('execute');
  }

  /** Per message, in order: `undefined` for success, else the error that settles it. */
  async handleBatch(msgs: readonly BusMessage[], role: string): Promise<(unknown | undefined)[]> {
    const outcomes: (unknown | undefined)[] = msgs.map(() => undefined);
    const authentic: (AuthenticCommand & { index: number })[] = [];
    const refused: Refused[] = [];
    msgs.forEach((msg, index) => {
      let body: unknown;
      try {
        body = msg.json();
        const cmd = parseExecuteCommand(body);
        authentic.push({ index, cmd, action: authenticate(this.keys, cmd, role) });
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
    authentic.forEach((a, i) => (outcomes[a.index] = executions[i]));
    return outcomes;
  }

  /** Records the refusals in one statement; each settles with its refusal, or naks if not recorded. */
  private async refuse(refused: readonly Refused[], role: string): Promise<unknown[]> {
    if (refused.length === 0) return [];
    const rows = refused.map(({ msg, body, err }) => {
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
    return refused.map((r) => r.err);
  }
}

function idLike(v: unknown): string | null {
  return typeof v === 'string' && v.length <= 100 ? v : null;
}
