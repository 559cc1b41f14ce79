import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { isDirectoryEvent, type Envelope, type EventType, type Subjects } from '@warden/contracts';
import { TransientError } from '@warden/kernel';
import { busMetrics, outgoingTraceparent } from '@warden/observability';
import { Headers } from './headers';

/** One message to publish. */
export interface OutgoingMessage {
  subject: string;
  payload: unknown;
  msgId: string;
  traceId: string;
  kind: string;
  headers?: Record<string, string>;
  /** Publish order: every message of a lower wave is acked before a higher wave is sent. Default 0. */
  wave?: number;
}

export interface PublisherOptions {
  timeoutMs?: number;
  /** Signs each event before it is published (the service's {@link EventAuthenticity.seal}). */
  seal?: (env: Envelope) => Envelope;
}

/**
 * Publishes envelopes and commands to JetStream with `Nats-Msg-Id` and `traceparent`. `publishAll`
 * pipelines: every publish is in flight at once and it resolves when all are acked.
 * @example await publisher.publishEvent(envelope)
 */
export class Publisher {
  private readonly timeoutMs: number;
  private readonly seal?: (env: Envelope) => Envelope;

  constructor(
    private readonly js: JetStreamClient,
    readonly subjects: Subjects,
    opts: PublisherOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.seal = opts.seal;
  }

  /** The message that carries an event on its run's subject. */
  eventMessage<T extends EventType>(unsealed: Envelope<T>): OutgoingMessage {
    const env = this.seal && !unsealed.sig ? this.seal(unsealed) : unsealed;
    const subject = isDirectoryEvent(env.type)
      ? this.subjects.directory(env.correlation_id, env.type)
      : env.run_id
        ? this.subjects.event(env.run_id, env.type)
        : env.type === 'command_refused'
          ? this.subjects.refused(env.correlation_id)
          : this.subjects.rejected(env.correlation_id);
    return {
      subject,
      payload: env,
      msgId: env.id,
      traceId: env.trace_id,
      kind: env.type,
      headers: { [Headers.eventType]: env.type },
    };
  }

  publishEvent<T extends EventType>(env: Envelope<T>): Promise<PubAck> {
    return this.publish(this.eventMessage(env));
  }

  publishEvents(envs: Envelope[]): Promise<PubAck[]> {
    return this.publishAll(envs.map((e) => this.eventMessage(e)));
  }

  async publish(m: OutgoingMessage): Promise<PubAck> {
    const h: MsgHdrs = natsHeaders();
    h.set(Headers.traceparent, outgoingTraceparent(m.traceId));
    for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
    try {
      const ack = await this.js.publish(m.subject, JSON.stringify(m.payload), {
        msgID: m.msgId,
        headers: h,
        timeout: this.timeoutMs,
      });
      busMetrics.published.inc({ kind: ack.duplicate ? 'duplicate' : 'new' });
      return ack;
    } catch (err) {
      throw new TransientError(`publish to ${m.subject} failed: ${(err as Error).message}`, err);
    }
  }

  /**
   * Publishes all messages, pipelined within each wave (see {@link OutgoingMessage.wave}); rejects if
   * any publish fails (callers retry the whole set: ids are deterministic, so the broker drops repeats).
   */
  async publishAll(msgs: OutgoingMessage[]): Promise<PubAck[]> {
    const waves = [...new Set(msgs.map((m) => m.wave ?? 0))].sort((a, b) => a - b);
    if (waves.length <= 1) return Promise.all(msgs.map((m) => this.publish(m)));
    const acks: PubAck[] = [];
    for (const w of waves)
      acks.push(...(await Promise.all(msgs.filter((m) => (m.wave ?? 0) === w).map((m) => this.publish(m)))));
    return acks;
  }
}
