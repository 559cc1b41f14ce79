import { Inject, Injectable } from '@nestjs/common';
import type { BusMessage } from '@warden/bus';
import type { Action, ExecuteCommand } from '@warden/contracts';
import { DomainError, type SigningKeys } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { LOGGER } from '@warden/runtime';
import { authenticate, parseExecuteCommand, refusalReason } from '../domain/authenticity';
import { ExecutionRepository } from '../repositories/execution.repository';
import { RunExecutor } from '../run-executor.service';
import { VERIFIER_KEYS } from '../tokens';
import { workersMetrics } from '../workers.metrics';

/**
 * Handles one `cmd.workers.<role>.execute` message: authenticity first, then at-most-once execution.
 * A refused command runs nothing and publishes no event: it is recorded, counted and rethrown so
 * the consumer dead-letters it.
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

  async handle(msg: BusMessage, role: string): Promise<void> {
    const { cmd, action } = await this.authentic(msg, role);
    await this.executor.execute(cmd, action);
  }

  /** The command and the action it may execute, or a recorded refusal (rethrown for dead-lettering). */
  private async authentic(msg: BusMessage, role: string): Promise<{ cmd: ExecuteCommand; action: Action }> {
    let body: unknown;
    try {
      body = msg.json();
      const cmd = parseExecuteCommand(body);
      return { cmd, action: authenticate(this.keys, cmd, role) };
    } catch (err) {
      if (err instanceof DomainError) await this.refuse(msg, role, body, err);
      throw err;
    }
  }

  private async refuse(msg: BusMessage, role: string, body: unknown, err: DomainError): Promise<void> {
    const reason = refusalReason(err);
    const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const recorded = await this.repo.recordRefusal({
      runId: idLike(fields.run_id),
      commandId: idLike(fields.command_id),
      role,
      reason,
      code: err.code,
      detail: err.message,
      subject: msg.subject,
      streamSeq: msg.seq,
    });
    // count each refused message once, even if dead-lettering it is retried
    if (recorded) workersMetrics.refused.inc({ reason });
    this.log.warn('command refused', { run_id: idLike(fields.run_id), role, code: err.code, reason: err.message });
  }
}

function idLike(v: unknown): string | null {
  return typeof v === 'string' && v.length <= 100 ? v : null;
}
