import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection, type ProjectionHandler, type ProjectionSpec } from '@warden/persistence';

/**
 * Makes the approvals service's projections: one ordered consumer per event type (it reads only the
 * events it needs, never the whole log), each with its own checkpoint in the `approvals` schema.
 * `lingerMs` holds a batch open that long (a projection off every run's path: fewer transactions);
 * `relevant` leaves out events it has nothing to do with (see {@link ProjectionSpec.relevant}).
 * @example const perType = perTypeProjections(ds, bus, subjects, publisher); perType('votes', 'approval_vote', new ApprovalVoteProjection())
 */
export function perTypeProjections(ds: DataSource, bus: BusConnection, subjects: Subjects, publisher: Publisher) {
  return (
    name: string,
    type: string,
    handler: ProjectionHandler,
    lingerMs?: number,
    relevant?: ProjectionSpec['relevant'],
  ): CheckpointedProjection =>
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name,
        schema: 'approvals',
        service: 'approvals',
        stream: subjects.streams.events,
        filterSubject: subjects.eventsOfType(type),
        ...(lingerMs ? { lingerMs } : {}),
        ...(relevant ? { relevant } : {}),
      },
      handler,
    );
}
