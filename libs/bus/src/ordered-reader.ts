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
  /**
   * With `lingerMs` (and no `mayLinger`): read in rounds — the round's first message, then, `lingerMs`
   * later, everything stored since in one burst — instead of a delivery (a wake-up) per message. For
   * dense readers of every run's events (the dashboard, the audit chain); a reader of rare events is
   * better off with plain deliveries (a round costs three round trips).
   */
  rounds?: boolean;
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
    if (linger > 0 && this.spec.rounds && !this.spec.mayLinger) {
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
   * Reads in rounds (see {@link OrderedReadSpec.rounds}): waits for the round's first message (one
   * pull, one delivery: idle costs nothing but the pull's renewal), rests `linger`, asks how many more
   * are stored and fetches them in one burst (the server writes them back to back), and hands the
   * round over as one batch. A message waits at most about `linger` (plus the batch before it); the
   * process wakes a few times a round, not once per message — on this kind of VM a wake-up costs more
   * CPU than the message's work.
   */
  private async poll(consumer: Consumer, linger: number, maxBatch: number): Promise<void> {
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (wake = resolve));
    this.wakeStop = () => {
      wake();
      void this.fetching?.close().catch(() => undefined);
    };
    const rest = (ms: number) => Promise.race([stopped, new Promise((r) => setTimeout(r, ms))]);
    // what a fetch delivered is never dropped: the consumer has moved past it (a fetch that ends early
    // hands over what it got; the next one goes on from there)
    const take = async (n: number, expires: number): Promise<BusMessage[]> => {
      const out: BusMessage[] = [];
      try {
        this.fetching = await consumer.fetch({ max_messages: n, expires });
        for await (const raw of this.fetching) {
          out.push(new BusMessage(raw));
          if (out.length >= n) break;
        }
      } catch (err) {
        if (out.length === 0) throw err;
        this.log.warn('ordered read: a fetch ended early; handing over what it got', { error: err as Error });
      } finally {
        this.fetching = undefined;
      }
      return out;
    };
    while (!this.stopped) {
      let batch: BusMessage[];
      try {
        batch = await take(1, 30_000);
      } catch (err) {
        if (this.stopped) break;
        this.log.warn('ordered read: waiting for a message failed; retrying', { error: err as Error });
        await rest(1000);
        continue;
      }
      if (batch.length === 0) continue; // the pull expired with nothing (or stop): renew it
      if (maxBatch > 1) {
        await rest(linger);
        try {
          const more = Math.min(maxBatch - 1, (await consumer.info()).num_pending);
          if (more > 0 && !this.stopped) batch.push(...(await take(more, 5000)));
        } catch (err) {
          this.log.warn('ordered read: reading the rest of a round failed; the next round reads on', {
            error: err as Error,
          });
        }
      }
      await this.deliver(batch);
      if (batch[batch.length - 1]!.raw.info.pending === 0) this.caughtUp?.();
    }
  }

  private fetching?: ConsumerMessages;
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
