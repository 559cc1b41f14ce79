import { Inject, Injectable } from '@nestjs/common';
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import type { Subjects } from '@warden/contracts';
import { BusMessage, ForgedEventError, decodeEnvelope, type BusConnection } from '@warden/bus';
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

/**
 * Follows one run's events without polling: an ordered consumer on `warden.events.run.<run_id>.>`
 * from the run's first event, folded into a {@link RunView} until the run is terminal. Every event is
 * verified (signature of its one producer) before it counts; a forged one changes nothing. Being a
 * replay of the stream, any replica can wait for any run, also after a restart.
 */
@Injectable()
export class RunWatcher {
  private readonly log: Logger;

  constructor(
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('mcp-run-watcher');
  }

  async wait(runId: string, opts: WaitOptions): Promise<{ view: RunView; end: WaitEnd }> {
    let view = emptyView(runId);
    if (opts.signal?.aborted) return { view, end: 'aborted' };
    const consumer = await this.bus.js.consumers.get(this.subjects.streams.events, {
      filter_subjects: this.subjects.event(runId, '*'),
      deliver_policy: DeliverPolicy.All,
    });
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 64 });
    let end: WaitEnd | undefined;
    const stop = (why: WaitEnd) => {
      if (end) return;
      end = why;
      void messages.close().catch(() => undefined);
    };
    const timer = setTimeout(() => stop('timeout'), Math.max(0, opts.deadline - Date.now()));
    const onAbort = () => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const raw of messages) {
        const m = new BusMessage(raw);
        let next: RunView;
        try {
          next = evolveView(view, decodeEnvelope(m.json()));
        } catch (err) {
          // forged or malformed: it changes nothing here either (the check already counted and logged it)
          if (!(err instanceof ForgedEventError))
            this.log.warn('run event ignored: invalid', { run_id: runId, seq: m.seq, error: err as Error });
          continue;
        }
        if (next !== view) {
          view = next;
          opts.onChange?.(view);
        }
        if (viewTerminal(view)) {
          stop('terminal');
          break;
        }
        if (end) break;
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      stop(end ?? 'aborted');
    }
    return { view, end: viewTerminal(view) ? 'terminal' : (end ?? 'aborted') };
  }
}
