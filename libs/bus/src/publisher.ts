import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { isDeadLetterEvent, isDirectoryEvent, type Envelope, type EventType, type Subjects } from '@warden/contracts';
import { TransientError } from '@warden/kernel';
import {
  SpanKind,
  SpanStatusCode,
  busMetrics,
  childSpan,
  outgoingTraceparent,
  traceparentOf,
} from '@warden/observability';
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
  /**
   * `traceparent` of what caused this message, for a publish made outside that cause's span (a
   * batcher serving many requests): the publish span hangs under it instead of under nothing.
   */
  parent?: string;
  /** Id of the message in hand that caused this one (an event's `causation_id`): its span is the parent. */
  cause?: string;
}

export interface PublisherOptions {
  timeoutMs?: number;
  /** Signs each event before it is published (the service's {@link EventAuthenticity.seal}). */
  seal?: (env: Envelope) => Envelope;
  /** Signs events published together with one signature ({@link EventAuthenticity.sealBatch}). */
  sealBatch?: (envs: Envelope[]) => Envelope[];
  /** Names the publishing service on publish spans. */
  service?: string;
}

/**
 * Publishes envelopes and commands to JetStream with `Nats-Msg-Id` and `traceparent`. `publishAll`
 * pipelines: every publish is in flight at once and it resolves when all are acked.
 * @example await publisher.publishEvent(envelope)
 */
export class Publisher {
  private readonly timeoutMs: number;
  private readonly seal?: (env: Envelope) => Envelope;
  private readonly sealBatch?: (envs: Envelope[]) => Envelope[];
  /** Envelopes made by {@link eventMessage} that are signed when published (together, by publishAll). */
  private readonly unsealed = new WeakSet<object>();
  private readonly service: string;

  constructor(
    private readonly js: JetStreamClient,
    readonly subjects: Subjects,
    opts: PublisherOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.seal = opts.seal;
    this.sealBatch = opts.sealBatch;
    this.service = opts.service ?? 'warden';
  }

  /** The message that carries an event on its run's subject. */
  eventMessage<T extends EventType>(env: Envelope<T>): OutgoingMessage {
    if (this.seal && !env.sig) this.unsealed.add(env);
    const subject = isDirectoryEvent(env.type)
      ? this.subjects.directory(env.correlation_id, env.type)
      : isDeadLetterEvent(env.type)
        ? this.subjects.deadLetterEvent(env.correlation_id, env.type)
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
      ...(env.causation_id ? { cause: env.causation_id } : {}),
    };
  }

  publishEvent<T extends EventType>(env: Envelope<T>): Promise<PubAck> {
    return this.publish(this.eventMessage(env));
  }

  publishEvents(envs: Envelope[]): Promise<PubAck[]> {
    return this.publishAll(envs.map((e) => this.eventMessage(e)));
  }

  async publish(m: OutgoingMessage): Promise<PubAck> {
    if (this.unsealed.has(m.payload as object)) m = { ...m, payload: this.seal!(m.payload as Envelope) };
    // a producer span under the run's span in hand (see MessageSpans); its context travels in traceparent
    const runId = (m.payload as { run_id?: unknown } | null)?.run_id;
    const span = childSpan(
      this.service,
      `publish ${m.kind}`,
      m.traceId,
      {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': m.subject,
        'messaging.message.id': m.msgId,
        'warden.message.kind': m.kind,
        ...(typeof runId === 'string' ? { 'warden.run_id': runId } : {}),
      },
      { kind: SpanKind.PRODUCER, parent: m.parent, cause: m.cause },
    );
    const h: MsgHdrs = natsHeaders();
    h.set(Headers.traceparent, traceparentOf(span) ?? outgoingTraceparent(m.traceId, m.cause));
    for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
    try {
      const ack = await this.js.publish(m.subject, JSON.stringify(m.payload), {
        msgID: m.msgId,
        headers: h,
        timeout: this.timeoutMs,
      });
      busMetrics.published.inc({ kind: ack.duplicate ? 'duplicate' : 'new' });
      if (ack.duplicate) span?.setAttribute('warden.duplicate', true);
      return ack;
    } catch (err) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw new TransientError(`publish to ${m.subject} failed: ${(err as Error).message}`, err);
    } finally {
      span?.end();
    }
  }

  /**
   * Publishes all messages, pipelined within each wave (see {@link OutgoingMessage.wave}); rejects if
   * any publish fails (callers retry the whole set: ids are deterministic, so the broker drops repeats).
   */
  async publishAll(unsealed: OutgoingMessage[]): Promise<PubAck[]> {
    const msgs = this.sealTogether(unsealed);
    const waves = [...new Set(msgs.map((m) => m.wave ?? 0))].sort((a, b) => a - b);
    if (waves.length <= 1) return Promise.all(msgs.map((m) => this.publish(m)));
    const acks: PubAck[] = [];
    for (const w of waves)
      acks.push(...(await Promise.all(msgs.filter((m) => (m.wave ?? 0) === w).map((m) => this.publish(m)))));
    return acks;
  }

  /** The messages with every envelope still to sign signed: one signature for all of them. */
  private sealTogether(msgs: OutgoingMessage[]): OutgoingMessage[] {
    const at = msgs.flatMap((m, i) => (this.unsealed.has(m.payload as object) ? [i] : []));
    if (at.length === 0) return msgs;
    const envs = at.map((i) => msgs[i]!.payload as Envelope);
    const sealed = this.sealBatch && at.length > 1 ? this.sealBatch(envs) : envs.map((e) => this.seal!(e));
    const out = [...msgs];
    at.forEach((i, j) => (out[i] = { ...msgs[i]!, payload: sealed[j] }));
    return out;
  }
}
