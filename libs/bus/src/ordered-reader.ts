import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import { Logger } from '@warden/observability';
import type { BusConnection } from './connection';
import { inBatches, type BusMessage } from './message';

/** Where an ordered read starts and how big its batches get. */
export interface OrderedReadSpec {
  stream: string;
  filterSubject: string;
  /** First stream sequence to deliver (checkpoint + 1). */
  startSeq: number;
  maxBatch?: number;
}

/**
 * Reads a stream in strict sequence order with an ordered consumer (no acks: the caller's checkpoint
 * is the position) and hands it over in batches: a batch closes when `maxBatch` is reached or nothing
 * more is buffered. `onBatch` is retried with backoff until it succeeds, so nothing is skipped.
 */
export class OrderedReader {
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private stopped = false;
  private caughtUp?: () => void;

  constructor(
    private readonly bus: BusConnection,
    private readonly spec: OrderedReadSpec,
    private readonly onBatch: (batch: BusMessage[]) => Promise<void>,
    private readonly log: Logger = new Logger('ordered-reader'),
  ) {}

  /** Starts reading. With `untilCaughtUp`, resolves once every message present at start is handled. */
  async start(opts: { untilCaughtUp?: boolean } = {}): Promise<void> {
    const consumer = await this.bus.js.consumers.get(this.spec.stream, {
      filter_subjects: this.spec.filterSubject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, this.spec.startSeq),
    });
    const done = new Promise<void>((resolve) => (this.caughtUp = resolve));
    const info = await consumer.info(true);
    if (info.num_pending === 0) this.caughtUp?.();
    const maxBatch = this.spec.maxBatch ?? 500;
    this.messages = await consumer.consume({ max_messages: maxBatch * 2 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const batch of inBatches(messages, maxBatch)) {
        const last = batch[batch.length - 1]!;
        await this.deliver(batch);
        if (last.raw.info.pending === 0) this.caughtUp?.();
        if (this.stopped) break;
      }
    })().catch((err: unknown) => this.log.error('ordered read ended', { error: err as Error }));
    if (opts.untilCaughtUp) await done;
  }

  private async deliver(batch: BusMessage[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.onBatch(batch);
        return;
      } catch (err) {
        if (this.stopped) throw err;
        const delay = Math.min(10_000, 100 * 2 ** Math.min(attempt, 7));
        this.log.warn('batch failed; retrying', {
          first_seq: batch[0]!.seq,
          size: batch.length,
          attempt,
          delay_ms: delay,
          error: err as Error,
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Stops after the batch in hand; the checkpoint says where the next start resumes. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }
}
