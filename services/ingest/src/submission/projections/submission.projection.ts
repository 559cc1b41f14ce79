import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection, type ProjectionHandler } from '@warden/persistence';
import { SubmissionRepository, type SubmissionRow } from './submission.repository';

const repo = new SubmissionRepository();

/**
 * Rebuilds `ingest.submissions` from `task_received` events. Live, the consumer writes the table (it is
 * the dedupe source of truth); a rebuild reproduces every column except the bus provenance
 * (`source_stream`, `source_seq`), which events do not carry and which stay null. Dedupe never reads
 * them: a redelivery is recognised by `event_id`, derived from the same stream + sequence.
 */
export const submissionProjection: ProjectionHandler = {
  async apply(events, em) {
    const rows: SubmissionRow[] = [];
    for (const { env } of events) {
      if (env.type !== 'task_received') continue;
      const s = env.data.submission;
      rows.push({
        runId: s.run_id,
        agentId: s.agent.id,
        idempotencyKey: s.idempotency_key ?? null,
        traceId: env.trace_id,
        sourceStream: null,
        sourceSeq: null,
        eventId: env.id,
        createdAt: new Date(env.occurred_at),
      });
    }
    // first event wins, as it did live; a republished copy of an event is skipped
    await repo.insert(em, rows);
  },
  async reset(em) {
    await repo.deleteAll(em);
  },
};

/**
 * Ingest's checkpointed projections, for `npm run projections:rebuild` (call `.rebuild()` on each,
 * with ingest stopped: the consumer relies on the table while it is emptied and refilled).
 * @example for (const p of ingestProjections(ds, bus, subjects, publisher)) await p.rebuild();
 */
export function ingestProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher?: Publisher,
): CheckpointedProjection[] {
  return [
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'submissions',
        schema: 'ingest',
        service: 'ingest',
        stream: subjects.streams.events,
        filterSubject: subjects.eventsOfType('task_received'),
      },
      submissionProjection,
    ),
  ];
}
