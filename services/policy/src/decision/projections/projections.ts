import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { CheckpointedProjection } from '@warden/persistence';
import { BUS, DATA_SOURCE, PUBLISHER, SUBJECTS } from '@warden/runtime';
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
      },
      new DecisionProjection(),
    ),
  ];
}

/** Runs the projections for the life of the app. */
@Injectable()
export class PolicyProjectionRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly projections: CheckpointedProjection[];

  constructor(
    @Inject(DATA_SOURCE) ds: DataSource,
    @Inject(BUS) bus: BusConnection,
    @Inject(SUBJECTS) subjects: Subjects,
    @Inject(PUBLISHER) publisher: Publisher,
  ) {
    this.projections = policyProjections(ds, bus, subjects, publisher);
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const p of this.projections) await p.start();
  }

  // before the bus connection drains, so the batch in hand commits
  async beforeApplicationShutdown(): Promise<void> {
    for (const p of this.projections) await p.stop();
  }
}
