import type { EntityManager } from 'typeorm';
import type { OutgoingMessage } from '@warden/bus';
import type { ApplyContext, ProjectedEvent, ProjectionHandler } from '@warden/persistence';
import type { RunProcessConsumer } from './consumers/run-process.consumer';
import type { RunTimelineProjection } from './projections/run-timeline.projection';

/**
 * The one ordered pass over every run event (the `runs` checkpointed projection): for each event in log
 * order, the process manager ({@link RunProcessConsumer}: verify, decide, sign) and then the runs read
 * model ({@link RunTimelineProjection}: fold, timeline). Both see the run as it was before the event; the
 * state is loaded once per batch and folded once per event. What the process decided is published
 * before the batch's rows and checkpoint commit (see CheckpointedProjection), so a crash republishes
 * the same deterministic ids and the broker drops the copies: exactly once, in order.
 * @example new CheckpointedProjection(ds, bus, subjects, publisher, spec, new RunPass(consumer, timeline))
 */
export class RunPass implements ProjectionHandler {
  constructor(
    private readonly process: RunProcessConsumer,
    private readonly timeline: RunTimelineProjection,
  ) {}

  async apply(events: ProjectedEvent[], em: EntityManager, ctx: ApplyContext): Promise<OutgoingMessage[]> {
    const runEvents = events.filter((e) => e.env.run_id);
    const timeline = await this.timeline.begin(em, runEvents, ctx);
    const batch = this.process.batch(ctx);
    const out: OutgoingMessage[] = [];
    for (const { msg, env } of runEvents) {
      const before = timeline.before(env);
      if (!before) continue;
      const forged = this.process.handle(before, env, batch, out);
      timeline.record(msg.seq, env, before, forged);
    }
    await timeline.flush();
    return out;
  }

  /** The runs and timeline ids the batch needs, read in the round trip that opens its transaction. */
  preload(events: ProjectedEvent[]): string | undefined {
    return this.timeline.preload(events.filter((e) => e.env.run_id));
  }

  async reset(em: EntityManager): Promise<void> {
    await this.timeline.reset(em);
  }

  committed(): void {
    this.timeline.committed();
  }
}
