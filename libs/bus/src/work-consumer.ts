import {
  AckPolicy,
  DeliverPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
} from '@nats-io/jetstream';
import { headers as natsHeaders, nanos } from '@nats-io/nats-core';
import { DomainError, ValidationError } from '@warden/kernel';
import { Logger, MessageSpans, busMetrics, registerLagSource } from '@warden/observability';
import type { BusConnection } from './connection';
import { Headers } from './headers';
import { BusMessage, inBatches } from './message';
import { isTransientJetStreamError, retryStart } from './retry';
import type { Subjects } from '@warden/contracts';

/** Where and how a durable work consumer reads. */
export interface WorkConsumerSpec {
  /** Owning service (names the durable and the dead-letter subject). */
  service: string;
  /** Purpose, e.g. `task-received`; the durable is `<service>-<name>`. */
  name: string;
  stream: string;
  filterSubject: string;
  /** Messages handled at once; order between messages is not kept. Default 64. */
  concurrency?: number;
  /** Failed deliveries before a message is dead-lettered. Default 8. */
  maxDeliver?: number;
  /** Time a worker has before the broker redelivers; handlers heartbeat while running. Default 30 s. */
  ackWaitMs?: number;
  /** Where a new durable starts (default: every message in the stream). */
  deliverNew?: boolean;
  /**
   * The trace context a message's consume span continues; default its `traceparent` header. For a
   * consumer that derives a run's trace id itself when the header is missing (ingest), so the span
   * and the run share one trace.
   */
  traceparent?: (msg: BusMessage) => string | undefined;
}

export type MessageHandler = (msg: BusMessage) => Promise<void>;

/**
 * Handles many messages at once (one transaction, pipelined publishes) and returns, per message in
 * the same order, `undefined` for success or the error that settles it. Throwing fails them all.
 */
export type BatchHandler = (msgs: BusMessage[]) => Promise<(unknown | undefined)[]>;

/** A batch handler and the most messages it takes at once. */
export interface BatchHandling {
  batch: BatchHandler;
  /** Default 256. */
  maxBatch?: number;
}

/** Why a message was dead-lettered, as a bounded metric label. */
type DeadReason = 'invalid' | 'forged' | 'refused' | 'max_deliveries';

/** Nak backoff for delivery n: 250 ms doubling, capped at 30 s, with ±20 % jitter. */
export function backoffMs(deliveryCount: number): number {
  const base = Math.min(30_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * A durable pull consumer with explicit ack. The handler's outcome settles the message: success acks;
 * a {@link ValidationError} or {@link DomainError} terminates it and copies it to the dead-letter
 * subject; any other error naks with backoff until `maxDeliver`, then dead-letters. Messages are
 * handled concurrently, so a poison message never blocks the ones behind it.
 *
 * With a {@link BatchHandling}, whatever is buffered (up to `maxBatch`) is handed over at once and
 * `concurrency` counts batches: one Postgres transaction and one network write per batch instead of
 * one per message, and the acks of a batch leave in a single write.
 */
export class WorkConsumer {
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;
  private readonly durable: string;
  private unregisterLag?: () => void;

  constructor(
    private readonly bus: BusConnection,
    private readonly subjects: Subjects,
    private readonly spec: WorkConsumerSpec,
    private readonly handler: MessageHandler | BatchHandling,
    logger?: Logger,
  ) {
    this.durable = `${spec.service}-${spec.name}`;
    this.log = (logger ?? new Logger(spec.service)).child(spec.name);
  }

  get consumerName(): string {
    return this.durable;
  }

  /** Creates or updates the durable consumer; idempotent; retried while the cluster cannot answer. */
  async ensure(): Promise<void> {
    await retryStart(`consumer ${this.durable}`, () => this.ensureOnce(), { log: this.log });
  }

  private async ensureOnce(): Promise<void> {
    const cfg: Partial<ConsumerConfig> = {
      durable_name: this.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: this.spec.deliverNew ? DeliverPolicy.New : DeliverPolicy.All,
      filter_subject: this.spec.filterSubject,
      ack_wait: nanos(this.spec.ackWaitMs ?? 30_000),
      max_deliver: -1,
      max_ack_pending: Math.max(1000, (this.spec.concurrency ?? 64) * 4),
    };
    const existing = await this.bus.jsm.consumers.info(this.spec.stream, this.durable).catch((err: unknown) => {
      // a timeout is not "missing": adding it again would time out the same way
      if (isTransientJetStreamError(err)) throw err;
      return undefined;
    });
    if (!existing) {
      await this.bus.jsm.consumers.add(this.spec.stream, cfg);
    } else if (existing.config.filter_subject !== cfg.filter_subject || existing.config.ack_wait !== cfg.ack_wait) {
      const { deliver_policy: _ignored, ...mutable } = cfg;
      void _ignored;
      await this.bus.jsm.consumers.update(this.spec.stream, this.durable, mutable);
    }
  }

  async start(): Promise<void> {
    await this.ensure();
    this.unregisterLag ??= registerLagSource(async () => {
      const info = await this.bus.jsm.consumers.info(this.spec.stream, this.durable);
      return {
        consumer: this.durable,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        redelivered: info.num_redelivered,
      };
    });
    const consumer = await retryStart(`consumer ${this.durable}`, () =>
      this.bus.js.consumers.get(this.spec.stream, this.durable),
    );
    const handler = this.handler;
    if (typeof handler !== 'function') return this.startBatches(consumer, handler);
    const concurrency = this.spec.concurrency ?? 64;
    this.messages = await consumer.consume({ max_messages: concurrency * 2 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const raw of messages) {
        while (this.inFlight.size >= concurrency) await Promise.race(this.inFlight);
        const p = this.settle(new BusMessage(raw), handler).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    })().catch((err: unknown) => this.log.error('consume loop ended', { error: err as Error }));
  }

  private async startBatches(consumer: Consumer, handling: BatchHandling): Promise<void> {
    const concurrency = this.spec.concurrency ?? 2;
    const maxBatch = handling.maxBatch ?? 256;
    this.messages = await consumer.consume({ max_messages: maxBatch * 2 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const batch of inBatches(messages, maxBatch)) {
        while (this.inFlight.size >= concurrency) await Promise.race(this.inFlight);
        const p = this.settleBatch(batch, handling.batch).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    })().catch((err: unknown) => this.log.error('consume loop ended', { error: err as Error }));
  }

  /** Stops taking messages and waits for the ones in hand to settle. */
  async stop(): Promise<void> {
    this.unregisterLag?.();
    this.unregisterLag = undefined;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  /** True (after dead-lettering it) for a message that keeps killing the process. */
  private async exhausted(msg: BusMessage): Promise<boolean> {
    if (msg.deliveryCount <= (this.spec.maxDeliver ?? 8)) return false;
    await this.deadLetter(msg, 'max_deliveries', 'CONSUMER.MAX_DELIVERIES', `delivered ${msg.deliveryCount} times`);
    return true;
  }

  private heartbeat(msgs: BusMessage[]): NodeJS.Timeout {
    return setInterval(() => msgs.forEach((m) => m.working()), Math.max(1000, (this.spec.ackWaitMs ?? 30_000) / 3));
  }

  private async settle(msg: BusMessage, handler: MessageHandler): Promise<void> {
    const started = process.hrtime.bigint();
    this.countDelivery(msg);
    if (await this.exhausted(msg)) return;
    const spans = this.startSpans([msg], false);
    const heartbeat = this.heartbeat([msg]);
    let error: unknown;
    try {
      await spans.run(() => handler(msg));
    } catch (err) {
      error = err ?? new Error('handler failed');
    } finally {
      clearInterval(heartbeat);
    }
    const outcome = await this.outcome(msg, error);
    spans.end([{ error, outcome }]);
    busMetrics.handleSeconds.observe({ consumer: this.durable }, Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** One consume span per message (a child of its traceparent), under a batch span when batched. */
  private startSpans(msgs: BusMessage[], batch: boolean): MessageSpans {
    const spans = MessageSpans.start(
      this.spec.service,
      this.durable,
      msgs.map((m) => ({
        traceparent: this.spec.traceparent ? this.spec.traceparent(m) : m.traceparent,
        attributes: m.traceAttributes(),
      })),
      { batch },
    );
    msgs.forEach((m, i) => (m.spanTraceparent = spans.traceparentOf(i)));
    return spans;
  }

  private countDelivery(msg: BusMessage): void {
    if (msg.deliveryCount > 1) busMetrics.redeliveries.inc({ consumer: this.durable });
  }

  private async settleBatch(all: BusMessage[], handler: BatchHandler): Promise<void> {
    const started = process.hrtime.bigint();
    const msgs: BusMessage[] = [];
    for (const m of all) {
      this.countDelivery(m);
      if (!(await this.exhausted(m))) msgs.push(m);
    }
    if (msgs.length === 0) return;
    const spans = this.startSpans(msgs, true);
    const heartbeat = this.heartbeat(msgs);
    let errors: (unknown | undefined)[];
    try {
      errors = await spans.run(() => handler(msgs));
      if (errors.length !== msgs.length) {
        throw new Error(`batch handler returned ${errors.length} outcomes for ${msgs.length} messages`);
      }
    } catch (err) {
      errors = msgs.map(() => err ?? new Error('batch handler failed'));
    } finally {
      clearInterval(heartbeat);
    }
    const outcomes = await Promise.all(msgs.map((m, i) => this.outcome(m, errors[i])));
    spans.end(outcomes.map((outcome, i) => ({ outcome, error: errors[i] })));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    busMetrics.batchSeconds.observe({ consumer: this.durable }, seconds);
    busMetrics.batchSize.observe({ consumer: this.durable }, msgs.length);
  }

  /** Settles one message: ack on success, dead-letter a permanent failure, nak a transient one. */
  private async outcome(msg: BusMessage, err: unknown): Promise<string> {
    if (err === undefined) {
      msg.raw.ack();
      busMetrics.messages.inc({ consumer: this.durable, outcome: 'ack' });
      return 'ack';
    } else if (err instanceof DomainError) {
      const reason = err instanceof ValidationError ? 'invalid' : err.code === 'EVENT.FORGED' ? 'forged' : 'refused';
      return this.deadLetter(msg, reason, err.code, err.message);
    } else if (msg.deliveryCount >= (this.spec.maxDeliver ?? 8)) {
      const detail = err instanceof Error ? err.message : String(err);
      return this.deadLetter(msg, 'max_deliveries', 'CONSUMER.MAX_DELIVERIES', detail);
    } else {
      const delay = backoffMs(msg.deliveryCount);
      this.log.warn('handler failed; will retry', {
        subject: msg.subject,
        seq: msg.seq,
        delay_ms: delay,
        error: err as Error,
      });
      msg.raw.nak(delay);
      busMetrics.messages.inc({ consumer: this.durable, outcome: 'nak' });
      return 'nak';
    }
  }

  private async deadLetter(msg: BusMessage, reason: DeadReason, code: string, detail: string): Promise<string> {
    const h = natsHeaders();
    for (const [k, vs] of msg.raw.headers ?? []) for (const v of vs) h.append(k, v);
    h.set(Headers.dlqReason, detail.slice(0, 1000).replace(/[\r\n]+/g, ' '));
    h.set(Headers.dlqCode, code);
    h.set(Headers.dlqSubject, msg.subject);
    h.set(Headers.dlqStream, this.spec.stream);
    h.set(Headers.dlqStreamSeq, String(msg.seq));
    h.set(Headers.dlqDeliveries, String(msg.deliveryCount));
    h.set(Headers.dlqConsumer, this.durable);
    try {
      await this.bus.js.publish(this.subjects.deadLetter(this.spec.service, this.spec.name), msg.data, {
        headers: h,
        msgID: `dlq:${this.spec.stream}:${this.durable}:${msg.seq}`,
      });
    } catch (err) {
      // losing the copy would lose the message: retry later instead of terminating
      this.log.error('dead-letter publish failed; will retry', { seq: msg.seq, error: err as Error });
      msg.raw.nak(backoffMs(msg.deliveryCount));
      return 'nak';
    }
    // no reason argument: NATS 2.9 ignores a term that carries one (the reason is in the DLQ headers)
    msg.raw.term();
    busMetrics.deadLetters.inc({ consumer: this.durable, reason });
    busMetrics.messages.inc({ consumer: this.durable, outcome: 'dead_letter' });
    this.log.warn('dead-lettered', { subject: msg.subject, seq: msg.seq, code, reason: detail });
    return 'dead_letter';
  }
}
