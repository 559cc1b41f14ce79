import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection } from '@warden/persistence';
import { DecisionProjection } from './decision.projection';

/**
 * Every projection the policy service runs. Used by the service and by `npm run projections:rebuild`.
 * @example for (const p of policyProjections(ds, bus, subjects, publisher)) await p.rebuild()
 */
export function policyProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher: Publisher,
): CheckpointedProjection[] {
  return [
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'decisions',
        schema: 'policy',
        service: 'policy',
        stream: subjects.streams.events,
        filterSubject: subjects.eventsOfType('decision_made'),
        // a read model for what-if and reports, not on any run's path: many decisions per transaction
        lingerMs: 250,
      },
      new DecisionProjection(),
    ),
  ];
}
