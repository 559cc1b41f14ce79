import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Msg, Subscription } from '@nats-io/nats-core';
import { decodeJson, type Decision, type Subjects } from '@warden/contracts';
import type { BusConnection } from '@warden/bus';
import { DomainError, ValidationError } from '@warden/kernel';
import type { Logger } from '@warden/observability';
import { BUS, LOGGER, SUBJECTS, statusForCode } from '@warden/runtime';
import { DecisionService } from '../decision.service';
import { dryRunRequest } from '../dry-run';

/** An RFC 9457 problem, as the bus reply carries it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

/** The problem object for an error (the same mapping as the HTTP edge). */
export function problemOf(err: unknown): Problem {
  if (err instanceof DomainError) {
    const p: Problem = {
      type: `urn:warden:error:${err.code}`,
      title: err.code,
      status: statusForCode(err.code),
      detail: err.message,
    };
    if (err instanceof ValidationError) p.errors = err.errors;
    return p;
  }
  return {
    type: 'about:blank',
    title: 'Service Unavailable',
    status: 503,
    detail: `evaluation failed: ${err instanceof Error ? err.message : String(err)}`,
  };
}

/**
 * Answers `warden.policy.evaluate` requests (queue group `policy-evaluate`: one replica answers
 * each): the body is a TaskSubmission, the reply the Decision JSON, or a problem object
 * `{type, title, status, detail, errors?}`. Side-effect free, like `POST /v1/evaluate`.
 */
@Injectable()
export class EvaluateResponder implements OnApplicationBootstrap, OnApplicationShutdown {
  private sub?: Subscription;

  constructor(
    @Inject(DecisionService) private readonly decisions: DecisionService,
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.sub = this.bus.nc.subscribe(this.subjects.policyEvaluate, {
      queue: 'policy-evaluate',
      callback: (err, msg) => {
        if (err) {
          this.log.warn('policy evaluate subscription error', { error: err });
          return;
        }
        void this.answer(msg);
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
  }

  private async answer(msg: Msg): Promise<void> {
    let reply: Decision | Problem;
    try {
      // the same input gate as HTTP bodies: UTF-8 JSON, depth, number range, well-formed strings
      const decoded = decodeJson(msg.data);
      if (!decoded.ok) throw new ValidationError(decoded.errors);
      reply = await dryRunRequest(this.decisions, decoded.value, msg.headers?.get('traceparent'));
    } catch (err) {
      reply = problemOf(err);
    }
    if (msg.reply) msg.respond(JSON.stringify(reply));
  }
}
