import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { ValidationError } from '@warden/kernel';
import { Headers } from './headers';

/** A delivered message as handlers see it: decoded lazily, with its delivery facts. */
export class BusMessage {
  /** `traceparent` of this message's consume span, set by the consumer while one is recording. */
  spanTraceparent?: string;

  constructor(readonly raw: JsMsg) {}

  get subject(): string {
    return this.raw.subject;
  }
  /** Stream sequence. */
  get seq(): number {
    return this.raw.seq;
  }
  /** 1 on first delivery. */
  get deliveryCount(): number {
    return this.raw.info.deliveryCount;
  }
  get data(): Uint8Array {
    return this.raw.data;
  }
  header(name: string): string | undefined {
    const v = this.raw.headers?.get(name);
    return v ? v : undefined;
  }
  get msgId(): string | undefined {
    return this.header(Headers.msgId);
  }
  get traceparent(): string | undefined {
    return this.header(Headers.traceparent);
  }
  /** What follow-ups should carry: the consume span's context when traced, else the incoming header. */
  get followUpTraceparent(): string | undefined {
    return this.spanTraceparent ?? this.traceparent;
  }
  /** The run id in an event subject (`….run.<run_id>.<type>`), if any. */
  get subjectRunId(): string | undefined {
    const parts = this.raw.subject.split('.');
    return parts.length >= 4 && parts[parts.length - 3] === 'run' ? parts[parts.length - 2] : undefined;
  }
  /** Messaging-convention attributes of this delivery (no payload). */
  traceAttributes(): Record<string, string | number> {
    const attrs: Record<string, string | number> = {
      'messaging.destination.name': this.raw.subject,
      'messaging.message.delivery_count': this.deliveryCount,
      'messaging.nats.stream_sequence': this.seq,
    };
    const id = this.msgId;
    if (id) attrs['messaging.message.id'] = id;
    const type = this.header(Headers.eventType);
    if (type) attrs['warden.event.type'] = type;
    const run = this.subjectRunId;
    if (run) attrs['warden.run_id'] = run;
    return attrs;
  }
  /** Parses the body as JSON; a parse failure is a permanent {@link ValidationError}. */
  json(): unknown {
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(this.raw.data));
    } catch (err) {
      throw new ValidationError([{ path: '', message: `body is not valid UTF-8 JSON: ${(err as Error).message}` }]);
    }
  }
  /** Keeps the message from being redelivered while a long handler runs. */
  working(): void {
    this.raw.working();
  }
}

const NOTHING_BUFFERED = Symbol('nothing buffered');

/** Resolves after the current I/O phase: every message already buffered is handed over before it. */
function afterBuffered(): Promise<typeof NOTHING_BUFFERED> {
  return new Promise((resolve) => setImmediate(() => resolve(NOTHING_BUFFERED)));
}

/**
 * Groups delivered messages into batches: a batch closes at `maxBatch` or as soon as nothing more is
 * buffered, so batches grow under load and stay single messages (low latency) when traffic is light.
 * (The iterator's own pending count over-counts, so "nothing buffered" is observed, not asked.)
 */
export async function* inBatches(messages: ConsumerMessages, maxBatch: number): AsyncGenerator<BusMessage[]> {
  const it = messages[Symbol.asyncIterator]();
  let next = it.next();
  for (;;) {
    const first = await next;
    if (first.done) return;
    const batch = [new BusMessage(first.value)];
    next = it.next();
    while (batch.length < maxBatch) {
      const r = await Promise.race([next, afterBuffered()]);
      if (r === NOTHING_BUFFERED) break;
      if (r.done) {
        yield batch;
        return;
      }
      batch.push(new BusMessage(r.value));
      next = it.next();
    }
    yield batch;
  }
}
