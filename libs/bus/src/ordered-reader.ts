import { DeliverPolicy, jetstream, type Consumer, type ConsumerMessages } from '@nats-io/jetstream';
import { Logger } from '@warden/observability';
import type { BusConnection } from './connection';
import { BusMessage, inBatches } from './message';
import { retryStart } from './retry';

/** Where an ordered read starts and how big its batches get. */
export interface OrderedReadSpec {
  stream: string;
  filterSubject: string;
  /** First stream sequence to deliver (checkpoint + 1). */
  startSeq: number;
  maxBatch?: number;
  /**
   * Hold a batch open this long after its first message (or until `maxBatch`), so a read model that
   * may lag a little applies many events per transaction instead of a few. 0 (default): hand over
   * as soon as nothing more is buffered — for process managers, where latency matters.
   */
  lingerMs?: number;
  /**
   * With `lingerMs`: which messages may wait in a held batch. A message for which this is false hands
   * the batch over at once (with everything held before it), so a process manager can linger over the
   * events it only records and still react to the ones it acts on without delay. Default: all may wait.
   */
  mayLinger?: (msg: BusMessage) => boolean;
}

const LINGER_DUE = Symbol('linger due');
/** First attempt's timeout for creating the ordered consumer; each retry waits 1 s longer (to 5 s). */
const ORDERED_CREATE_TIMEOUT_MS = 1000;

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
  /** True once the reader caught up with what the stream held at start. */
  private started = false;

  constructor(
    private readonly bus: BusConnection,
    private readonly spec: OrderedReadSpec,
    private readonly onBatch: (batch: BusMessage[]) => Promise<void>,
    private readonly log: Logger = new Logger('ordered-reader'),
  ) {}

  /** Starts reading. With `untilCaughtUp`, resolves once every message present at start is handled. */
  async start(opts: { untilCaughtUp?: boolean } = {}): Promise<void> {
    // An ordered consumer is R1 and the meta leader places it on one of the stream's peers, also on
    // a peer killed minutes ago (NATS 2.9 counted a node gone without a goodbye as offline only after
    // ~3.8 min here): its creation then times out. A fresh attempt is placed anew, so attempts start with
    // a short timeout (a healthy create takes milliseconds) that grows to the usual 5 s.
    const { consumer, info } = await retryStart(
      `ordered read ${this.spec.stream} ${this.spec.filterSubject}`,
      async (n) => {
        const js = jetstream(this.bus.nc, { timeout: Math.min(ORDERED_CREATE_TIMEOUT_MS * n, 5000) });
        const c = await js.consumers.get(this.spec.stream, {
          filter_subjects: this.spec.filterSubject,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: Math.max(1, this.spec.startSeq),
        });
        return { consumer: c, info: await c.info(true) };
      },
      { log: this.log },
    );
    const done = new Promise<void>((resolve) => (this.caughtUp = resolve)).then(() => {
      this.started = true;
    });
    if (info.num_pending === 0) this.caughtUp?.();
    const maxBatch = this.spec.maxBatch ?? 500;
    const linger = this.spec.lingerMs ?? 0;
    if (linger > 0 && !this.spec.mayLinger) {
      this.loop = this.poll(consumer, linger, maxBatch).catch((err: unknown) =>
        this.log.error('ordered read ended', { error: err as Error }),
      );
      if (opts.untilCaughtUp) await done;
      return;
    }
    this.messages = await consumer.consume({ max_messages: maxBatch * 2 });
    const messages = this.messages;
    this.loop = (async () => {
      const batches = inBatches(messages, maxBatch)[Symbol.asyncIterator]();
      let next = batches.next();
      let held: BusMessage[] = [];
      let due = 0;
      const handOver = async () => {
        const batch = held;
        held = [];
        const last = batch[batch.length - 1]!;
        await this.deliver(batch);
        if (last.raw.info.pending === 0) this.caughtUp?.();
      };
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const r = held.length
          ? await Promise.race([
              next,
              new Promise<typeof LINGER_DUE>((ok) => (timer = setTimeout(() => ok(LINGER_DUE), due - Date.now()))),
            ])
          : await next;
        clearTimeout(timer);
        if (r === LINGER_DUE) {
          await handOver();
          if (this.stopped) break;
          continue;
        }
        next = batches.next();
        if (r.done) {
          if (held.length) await handOver();
          break;
        }
        if (!held.length) due = Date.now() + linger;
        held.push(...r.value);
        // caught up on a start that waits for it: never hold back what start() is waiting for
        const waitingForCatchUp = r.value[r.value.length - 1]!.raw.info.pending === 0 && !this.started;
        const urgent = this.spec.mayLinger ? r.value.some((m) => !this.spec.mayLinger!(m)) : false;
        if (linger <= 0 || urgent || held.length >= maxBatch || waitingForCatchUp) await handOver();
        if (this.stopped) break;
      }
    })().catch((err: unknown) => this.log.error('ordered read ended', { error: err as Error }));
    if (opts.untilCaughtUp) await done;
  }

  /**
   * A reader every message of which may linger reads in rounds instead of being woken by each one:
   * asks how many are pending, fetches them in one burst (they are stored already: the server writes
   * them back to back), hands them over as a batch, and waits `linger` before the next round. Events
   * still wait at most about `linger` (plus the batch before them); the process wakes a few times per
   * `linger`, not once per event — on this kind of VM a wake-up costs more CPU than the event's work.
   */
  private async poll(consumer: Consumer, linger: number, maxBatch: number): Promise<void> {
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (wake = resolve));
    this.wakeStop = wake;
    const rest = () => Promise.race([stopped, new Promise((r) => setTimeout(r, linger))]);
    while (!this.stopped) {
      let want: number;
      try {
        want = Math.min(maxBatch, (await consumer.info()).num_pending);
      } catch (err) {
        this.log.warn('ordered read: pending count failed; retrying', { error: err as Error });
        await rest();
        continue;
      }
      if (want === 0) {
        this.caughtUp?.();
        await rest();
        continue;
      }
      const batch: BusMessage[] = [];
      const iter = await consumer.fetch({ max_messages: want, expires: 5000 });
      for await (const raw of iter) {
        batch.push(new BusMessage(raw));
        if (batch.length >= want) break;
      }
      if (batch.length === 0) continue;
      await this.deliver(batch);
      if (batch[batch.length - 1]!.raw.info.pending === 0) this.caughtUp?.();
      // a full batch: more are waiting, read on; else let the next ones gather
      if (batch.length < maxBatch) await rest();
    }
  }

  private wakeStop?: () => void;

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
    this.wakeStop?.();
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }
}
