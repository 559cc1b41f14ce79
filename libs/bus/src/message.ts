import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { ValidationError } from '@warden/kernel';
import { Headers } from './headers';

/** A delivered message as handlers see it: decoded lazily, with its delivery facts. */
export class BusMessage {
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

/**
 * Groups delivered messages into batches: a batch closes at `maxBatch` or as soon as nothing more is
 * buffered, so batches grow under load and stay single messages (low latency) when traffic is light.
 */
export async function* inBatches(messages: ConsumerMessages, maxBatch: number): AsyncGenerator<BusMessage[]> {
  let batch: BusMessage[] = [];
  for await (const raw of messages) {
    batch.push(new BusMessage(raw));
    if (batch.length < maxBatch && messages.getPending() > 0) continue;
    yield batch;
    batch = [];
  }
}
