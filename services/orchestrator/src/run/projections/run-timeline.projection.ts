import type { EntityManager } from 'typeorm';
import type { AnyEnvelope } from '@warden/contracts';
import type { ApplyContext, ProjectedEvent } from '@warden/persistence';
import { initialState, type RunState } from '../domain/run.state';
import { foldTimeline } from '../domain/run.timeline';
import type { RunMetricsRecorder } from '../run.metrics';
import { RUN_CHANGED_CHANNEL } from '../run-notifier';
import { RunRepository, loadedBatch, type LoadedBatch, type RunEventRow } from './run.repository';

/**
 * The runs read model: each run's state (the fold of its events, {@link foldTimeline}) and its event
 * timeline, in tables `runs` and `run_events`. One batch at a time: {@link RunTimelineProjection.begin}
 * loads the batch's runs and the ids already stored (one query), the pass asks each event's
 * {@link RunTimelineBatch.before} and {@link RunTimelineBatch.record}s it, then {@link RunTimelineBatch.flush} writes.
 * @example const tl = await projection.begin(em, events, ctx); … tl.record(seq, env, before, forged); await tl.flush()
 */
export class RunTimelineProjection {
  /** @param metrics run latency and agent-behaviour metrics (live only, never while rebuilding) */
  constructor(private readonly metrics?: RunMetricsRecorder) {}

  /** The batch load as text, to go with `BEGIN` (see ProjectionHandler.preload); begin reads its row. */
  preload(runEvents: ProjectedEvent[]): string | undefined {
    const { runIds, eventIds } = idsOf(runEvents);
    return runIds.length || eventIds.length ? RunRepository.loadBatchText(runIds, eventIds) : undefined;
  }

  async begin(em: EntityManager, runEvents: ProjectedEvent[], ctx: ApplyContext): Promise<RunTimelineBatch> {
    const repo = new RunRepository(em);
    const { runIds, eventIds } = idsOf(runEvents);
    const { states, stored } = ctx.preloaded?.[0]
      ? loadedBatch(ctx.preloaded[0] as unknown as LoadedBatch)
      : await repo.loadBatch(runIds, eventIds);
    const metrics = ctx.rebuild ? undefined : this.metrics;
    metrics?.begin();
    return new RunTimelineBatch(repo, states, stored, !ctx.rebuild, metrics);
  }

  async reset(em: EntityManager): Promise<void> {
    await new RunRepository(em).reset();
  }

  committed(): void {
    this.metrics?.commit();
  }
}

/** One batch of the runs read model (see {@link RunTimelineProjection}). */
export class RunTimelineBatch {
  private readonly touched = new Map<string, { state: RunState; lastSeq: number }>();
  private readonly rows: RunEventRow[] = [];

  constructor(
    private readonly repo: RunRepository,
    private readonly states: Map<string, RunState>,
    private readonly stored: Set<string>,
    private readonly live: boolean,
    private readonly metrics?: RunMetricsRecorder,
  ) {}

  /** The run as it was before this event, or undefined for a duplicate already in the timeline (skip it). */
  before(env: AnyEnvelope): RunState | undefined {
    if (this.stored.has(env.id)) return undefined; // a duplicate that slipped past the broker's window
    this.stored.add(env.id);
    return this.states.get(env.run_id!) ?? initialState(env.run_id!);
  }

  /** Folds the event into its run and adds it to the run's timeline (`forged`: a decision that did not verify). */
  record(seq: number, env: AnyEnvelope, before: RunState, forged: boolean): void {
    const runId = env.run_id!;
    const { after, note, saveState } = foldTimeline(before, env, forged);
    this.metrics?.observe(before, after, env);
    this.states.set(runId, after);
    if (saveState) this.touched.set(runId, { state: after, lastSeq: seq });
    this.rows.push({
      id: env.id,
      run_id: runId,
      seq,
      type: env.type,
      occurred_at: env.occurred_at,
      envelope: env,
      ...(note ? { note } : {}),
    });
  }

  /**
   * Writes the batch's timeline rows and run states, and wakes the run streams (GET /v1/runs/:id/stream)
   * of every replica once it commits: one statement.
   */
  async flush(): Promise<void> {
    await this.repo.writeBatch(this.rows, [...this.touched.values()], {
      channel: RUN_CHANGED_CHANNEL,
      runIds: this.live ? [...new Set(this.rows.map((r) => r.run_id))] : [],
    });
  }
}

/** The runs and event ids a batch loads. */
function idsOf(runEvents: ProjectedEvent[]): { runIds: string[]; eventIds: string[] } {
  return { runIds: [...new Set(runEvents.map((e) => e.env.run_id!))], eventIds: runEvents.map((e) => e.env.id) };
}
