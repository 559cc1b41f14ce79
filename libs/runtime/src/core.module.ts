import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { Subjects } from '@warden/contracts';
import {
  EventAuthenticity,
  Publisher,
  connectBus,
  ensureStreams,
  installEventAuthenticity,
  type BusConnection,
} from '@warden/bus';
import type { Keyring } from '@warden/kernel';
import { createRedis, openDataSource, type Redis, type ServiceDataSourceOptions } from '@warden/persistence';
import { HealthModule, Logger, type HealthCheck } from '@warden/observability';
import { keyringFromConfig, type BaseEnv } from './config';

export const BUS = Symbol('BUS');
export const SUBJECTS = Symbol('SUBJECTS');
export const PUBLISHER = Symbol('PUBLISHER');
export const DATA_SOURCE = Symbol('DATA_SOURCE');
export const REDIS = Symbol('REDIS');
export const CONFIG = Symbol('CONFIG');
export const LOGGER = Symbol('LOGGER');
export const SERVICE_NAME = Symbol('SERVICE_NAME');
/** The service's {@link Keyring}: its own signing key and every producer's public keys. */
export const KEYRING = Symbol('KEYRING');
export const AUTHENTICITY = Symbol('AUTHENTICITY');

/** What a service needs from the platform. */
export interface CoreOptions<C extends BaseEnv = BaseEnv> {
  service: string;
  config: C;
  /** The service's own Postgres schema, entities and migrations; omit if it uses no Postgres. */
  database?: Omit<ServiceDataSourceOptions, 'url'>;
  redis?: boolean;
}

class CoreLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly ds?: DataSource,
    private readonly redis?: Redis,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    // the app and its bus transport both signal shutdown; close each connection once
    if (!this.bus.nc.isClosed() && !this.bus.nc.isDraining()) {
      await this.bus.nc.drain().catch((err: unknown) => this.log.warn('nats drain failed', { error: err as Error }));
    }
    if (this.ds?.isInitialized) await this.ds.destroy().catch(() => undefined);
    this.redis?.disconnect();
  }
}

/**
 * Global module giving every service its bus connection (streams ensured), publisher, subject resolver,
 * DataSource (migrated), Redis, config, logger and `/health/*` + `/metrics` wired to those checks.
 * @example CoreModule.forRoot({ service: 'policy', config, database: { schema: 'policy', entities, migrations }, redis: true })
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot<C extends BaseEnv>(opts: CoreOptions<C>): DynamicModule {
    const { service, config } = opts;
    const keyring = keyringFromConfig(service, config);
    const authenticity = new EventAuthenticity(keyring);
    // every decodeEnvelope in this process verifies from here on, before any consumer starts
    installEventAuthenticity(authenticity);
    const providers: Provider[] = [
      { provide: CONFIG, useValue: config },
      { provide: KEYRING, useValue: keyring satisfies Keyring },
      { provide: AUTHENTICITY, useValue: authenticity },
      { provide: SERVICE_NAME, useValue: service },
      { provide: LOGGER, useValue: new Logger(service) },
      { provide: SUBJECTS, useValue: new Subjects(config.WARDEN_SUBJECT_PREFIX) },
      {
        provide: BUS,
        inject: [SUBJECTS],
        useFactory: async (subjects: Subjects) => {
          const bus = await connectBus(config.NATS_URL, service).catch((err: Error) => {
            throw new Error(`cannot reach NATS at ${redactUrl(config.NATS_URL)}: ${err.message}`);
          });
          await ensureStreams(bus.jsm, subjects, { replicas: config.WARDEN_STREAM_REPLICAS });
          return bus;
        },
      },
      {
        provide: PUBLISHER,
        inject: [BUS, SUBJECTS],
        useFactory: (bus: BusConnection, s: Subjects) =>
          new Publisher(bus.js, s, {
            seal: (e) => authenticity.seal(e),
            sealBatch: (envs) => authenticity.sealBatch(envs),
            service,
          }),
      },
    ];
    const checks: ((deps: Record<string, unknown>) => HealthCheck)[] = [
      ({ bus }) => ({
        name: 'nats',
        check: async () => {
          const b = bus as BusConnection;
          if (b.nc.isClosed()) throw new Error('connection closed');
          await b.nc.flush();
        },
      }),
    ];
    const inject: symbol[] = [BUS];
    const keys = ['bus'];
    if (opts.database) {
      const db = opts.database;
      providers.push({
        provide: DATA_SOURCE,
        useFactory: () =>
          openDataSource({
            url: config.DATABASE_URL,
            preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
            ...db,
          }).catch((err: Error) => {
            throw new Error(`cannot open Postgres at ${redactUrl(config.DATABASE_URL)}: ${err.message}`);
          }),
      });
      inject.push(DATA_SOURCE);
      keys.push('ds');
      checks.push(({ ds }) => ({
        name: 'postgres',
        check: async () => void (await (ds as DataSource).query('SELECT 1')),
      }));
    }
    if (opts.redis) {
      providers.push({ provide: REDIS, useFactory: () => createRedis(config.REDIS_URL, `warden-${service}`) });
      inject.push(REDIS);
      keys.push('redis');
      checks.push(({ redis }) => ({ name: 'redis', check: async () => void (await (redis as Redis).ping()) }));
    }
    providers.push({
      provide: CoreLifecycle,
      inject: [BUS, LOGGER, ...(opts.database ? [DATA_SOURCE] : []), ...(opts.redis ? [REDIS] : [])],
      useFactory: (bus: BusConnection, log: Logger, ...rest: unknown[]) =>
        new CoreLifecycle(
          bus,
          log,
          opts.database ? (rest[0] as DataSource) : undefined,
          opts.redis ? (rest[opts.database ? 1 : 0] as Redis) : undefined,
        ),
    });
    const health = HealthModule.forRoot({
      inject,
      useFactory: ((...deps: unknown[]) => {
        const named = Object.fromEntries(keys.map((k, i) => [k, deps[i]]));
        return checks.map((c) => c(named));
      }) as never,
    });
    return {
      module: CoreModule,
      imports: [health],
      providers,
      exports: [
        CONFIG,
        KEYRING,
        AUTHENTICITY,
        SERVICE_NAME,
        LOGGER,
        SUBJECTS,
        BUS,
        PUBLISHER,
        ...(opts.database ? [DATA_SOURCE] : []),
        ...(opts.redis ? [REDIS] : []),
      ],
    };
  }
}

/** A URL with its password removed, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
