import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DeliverPolicy, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { AnyEnvelope, Subjects } from '@warden/contracts';
import { ForgedEventError, decodeEnvelope, type BusConnection } from '@warden/bus';
import { Logger } from '@warden/observability';
import { BUS, LOGGER, SUBJECTS } from '@warden/runtime';
import { emptyView, evolveView, viewTerminal, type RunView } from './domain/run-view';

/** How a wait ended: the run is terminal, the time ran out, or the wait was aborted (shutdown, cancel). */
export type WaitEnd = 'terminal' | 'timeout' | 'aborted';

export interface WaitOptions {
  /** Give up (with the view as it is) at this time (ms since epoch). */
  deadline: number;
  signal?: AbortSignal;
  /** Called after every event that changed the view (also while catching up). */
  onChange?: (view: RunView) => void;
}

export interface WaitOutcome {
  view: RunView;
  end: WaitEnd;
}

/** How long the live follower outlives the last call waiting on it (so a steady trickle of calls reuses it). */
export const LIVE_IDLE_MS = 30_000;

/** A run followed from before it exists (see {@link RunWatcher.expect}). */
export interface Expectation {
  wait(opts: WaitOptions): Promise<WaitOutcome>;
  /** Stops following (the run turned out to exist already). */
  cancel(): void;
}

/**
 * Follows runs without polling, verifying every event (the signature of its one producer) before it
 * counts; a forged event changes nothing. Two ways in:
 * - {@link expect}: a run this process is about to create. One ordered consumer per process, on every
 *   run event from its start on (`warden.events.run.>`, new only), hands each event to the runs
 *   someone expects; so a call costs no consumer of its own. It runs only while calls wait (and
 *   {@link LIVE_IDLE_MS} after the last one): a process with no MCP call in flight reads no run
 *   events at all, where it used to be woken by every event of every run. If it cannot be started,
 *   the call falls back to {@link wait} (a replay from the run's first event).
 * - {@link wait}: a run that may already have events (a retried request, `warden.await_run`, another
 *   replica's run): an ordered consumer on `warden.events.run.<run_id>.*` replays it from its first event
 *   and follows it. Being a replay of the stream, any replica can wait for any run, also after a restart.
 */
@Injectable()
export class RunWatcher implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly expected = new Map<string, Set<(env: AnyEnvelope) => void>>();
  private live?: ConsumerMessages;
  private liveLoop?: Promise<void>;
  private liveStart?: Promise<void>;
  private liveConsumer?: Consumer;
  private idleTimer?: NodeJS.Timeout;
  private closing = false;
  /** How long the live follower outlives the last waiting call ({@link LIVE_IDLE_MS}; tests shorten it). */
  idleMs = LIVE_IDLE_MS;

  constructor(
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('mcp-run-watcher');
  }

  onModuleInit(): void {
    // nothing to start: the live follower starts with the first call that waits (see expect)
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    clearTimeout(this.idleTimer);
    await this.live?.close().catch(() => undefined);
    await this.liveLoop;
  }

  /** Starts the live follower unless it runs (or is starting); stops a pending idle stop. */
  private ensureLive(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.liveStart ??= this.startLive().catch((err: unknown) => {
      this.liveStart = undefined;
      throw err;
    });
    return this.liveStart;
  }

  private async startLive(): Promise<void> {
    // the server-side consumer exists (new events only, from now) once get() returns
    const consumer = await this.bus.js.consumers.get(this.subjects.streams.events, {
      filter_subjects: this.subjects.runEvents,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume({ max_messages: 1000 });
    this.live = messages;
    this.liveConsumer = consumer;
    this.liveLoop = (async () => {
      for await (const raw of messages) {
        // `<prefix>.events.run.<run_id>.<type>`: only the runs someone waits for are decoded
        const tokens = raw.subject.split('.');
        const waiters = this.expected.get(tokens[tokens.length - 2] ?? '');
        if (!waiters) continue;
        const env = this.decode(raw);
        if (env) for (const fn of [...waiters]) fn(env);
      }
    })()
      .catch((err: unknown) => this.log.error('run event follower ended', { error: err as Error }))
      .finally(() => {
        // ended on its own (or stopped): the next call starts a new one
        if (this.live === messages) {
          this.live = undefined;
          this.liveStart = undefined;
        }
      });
  }

  /** No call waits any more: stop the live follower after {@link LIVE_IDLE_MS} unless one comes. */
  private release(): void {
    if (this.expected.size > 0 || this.closing || !this.liveStart) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.expected.size > 0) return;
      const live = this.live;
      const consumer = this.liveConsumer;
      this.live = undefined;
      this.liveStart = undefined;
      // closing stops the pulls; deleting frees the server's consumer now rather than after its inactivity timeout
      void live
        ?.close()
        .then(() => consumer?.delete())
        .catch(() => undefined);
    }, this.idleMs);
    this.idleTimer.unref?.();
  }

  /** Whether the live follower is running now (for tests and the idle stop). */
  get following(): boolean {
    return this.live !== undefined;
  }

  /**
   * Starts following `runId` before it exists: call before submitting the proposal that creates it,
   * then {@link Expectation.wait}. Every event of the run from now on is seen, in stream order.
   */
  async expect(runId: string): Promise<Expectation> {
    const key = runId.toLowerCase();
    try {
      await this.ensureLive();
    } catch (err) {
      this.log.warn('run event follower could not start; this call replays its run instead', {
        run_id: key,
        error: err as Error,
      });
      return { cancel: () => undefined, wait: (opts) => this.wait(key, opts) };
    }
    const buffered: AnyEnvelope[] = [];
    let deliver: (env: AnyEnvelope) => void = (env) => buffered.push(env);
    const fn = (env: AnyEnvelope) => deliver(env);
    let set = this.expected.get(key);
    if (!set) this.expected.set(key, (set = new Set()));
    set.add(fn);
    const cancel = () => {
      set.delete(fn);
      if (set.size === 0 && this.expected.get(key) === set) this.expected.delete(key);
      this.release();
    };
    return {
      cancel,
      wait: (opts) =>
        this.follow(key, opts, (push) => {
          deliver = push;
          for (const env of buffered.splice(0)) push(env);
          return cancel;
        }),
    };
  }

  /** Replays `runId` from its first event and follows it until terminal, the deadline or an abort. */
  async wait(runId: string, opts: WaitOptions): Promise<WaitOutcome> {
    const key = runId.toLowerCase();
    if (opts.signal?.aborted) return { view: emptyView(key), end: 'aborted' };
    const consumer = await this.bus.js.consumers.get(this.subjects.streams.events, {
      filter_subjects: this.subjects.event(key, '*'),
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume({ max_messages: 64 });
    return this.follow(key, opts, (push) => {
      void (async () => {
        for await (const raw of messages) {
          const env = this.decode(raw);
          if (env) push(env);
        }
      })().catch(() => undefined);
      return () => void messages.close().catch(() => undefined);
    });
  }

  /**
   * The run as its events say now: replays `warden.events.run.<run_id>.*` from the first event to the
   * last one stored (no waiting for more). What MCP tasks read, so a task's status comes from the
   * durable run on any replica. A run with no event yet reads as `none` after `emptyWithinMs`.
   */
  async snapshot(runId: string, emptyWithinMs = 1000): Promise<RunView> {
    const key = runId.toLowerCase();
    const consumer = await this.bus.js.consumers.get(this.subjects.streams.events, {
      filter_subjects: this.subjects.event(key, '*'),
      deliver_policy: DeliverPolicy.All,
    });
    let view = emptyView(key);
    const messages = await consumer.fetch({ max_messages: 512, expires: emptyWithinMs });
    try {
      for await (const raw of messages) {
        const env = this.decode(raw);
        if (env) view = evolveView(view, env);
        if (raw.info.pending === 0) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
    return view;
  }

  /** Folds the events `source` pushes into a view until it is terminal, the deadline passes or the signal aborts. */
  private follow(
    runId: string,
    opts: WaitOptions,
    source: (push: (env: AnyEnvelope) => void) => () => void,
  ): Promise<WaitOutcome> {
    return new Promise<WaitOutcome>((resolve) => {
      let view = emptyView(runId);
      let done = false;
      let stop: () => void = () => undefined;
      const finish = (end: WaitEnd) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        stop();
        resolve({ view, end });
      };
      const timer = setTimeout(() => finish('timeout'), Math.max(0, opts.deadline - Date.now()));
      const onAbort = () => finish('aborted');
      if (opts.signal?.aborted) return finish('aborted');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      stop = source((env) => {
        if (done) return;
        const next = evolveView(view, env);
        if (next === view) return;
        view = next;
        opts.onChange?.(view);
        if (viewTerminal(view)) finish('terminal');
      });
      if (done) stop();
    });
  }

  /** The verified envelope of a run event, or undefined (forged or malformed: it changes nothing). */
  private decode(raw: JsMsg): AnyEnvelope | undefined {
    try {
      return decodeEnvelope(raw.json());
    } catch (err) {
      // a forgery was already counted and logged by the check
      if (!(err instanceof ForgedEventError))
        this.log.warn('run event ignored: invalid', { subject: raw.subject, seq: raw.seq, error: err as Error });
      return undefined;
    }
  }
}
