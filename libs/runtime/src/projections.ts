import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type Provider,
} from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import type { CheckpointedProjection } from '@warden/persistence';
import type { Keyring } from '@warden/kernel';
import type { BaseEnv } from './config';
import { BUS, CONFIG, DATA_SOURCE, KEYRING, PUBLISHER, SUBJECTS } from './core.module';

/** What a service's projections are built from, live or in `npm run projections:rebuild`. */
export interface ProjectionContext<C extends BaseEnv = BaseEnv> {
  ds: DataSource;
  bus: BusConnection;
  subjects: Subjects;
  publisher: Publisher;
  config: C;
  /** The service's own signing key and every producer's public keys. */
  keyring: Keyring;
}

export type ProjectionFactory<C extends BaseEnv = BaseEnv> = (ctx: ProjectionContext<C>) => CheckpointedProjection[];

export const PROJECTIONS = Symbol('PROJECTIONS');

/** Starts the projections with the app and stops them before the bus drains, so the batch in hand commits. */
@Injectable()
export class ProjectionRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(PROJECTIONS) private readonly projections: CheckpointedProjection[]) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const p of this.projections) await p.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    for (const p of this.projections) await p.stop();
  }
}

/**
 * Providers that run a service's projections for the life of the app.
 * @example providers: [...runProjections((ctx) => policyProjections(ctx))]
 */
export function runProjections<C extends BaseEnv>(factory: ProjectionFactory<C>): Provider[] {
  return [
    {
      provide: PROJECTIONS,
      inject: [DATA_SOURCE, BUS, SUBJECTS, PUBLISHER, CONFIG, KEYRING],
      useFactory: (
        ds: DataSource,
        bus: BusConnection,
        subjects: Subjects,
        publisher: Publisher,
        config: C,
        keyring: Keyring,
      ) => factory({ ds, bus, subjects, publisher, config, keyring }),
    },
    ProjectionRunner,
  ];
}
