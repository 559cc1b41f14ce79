import { Module, type DynamicModule } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import { McpCatalogStore, type BusConnection } from '@warden/bus';
import { signingKeysOf, systemClock, type Keyring } from '@warden/kernel';
import type { Logger } from '@warden/observability';
import {
  BUS,
  CoreModule,
  DATA_SOURCE,
  IdentityDirectory,
  IdentityModule,
  LOGGER,
  SUBJECTS,
  runProjections,
  KEYRING,
} from '@warden/runtime';
import { ActiveBundle } from './bundle/active-bundle';
import { BundleRegistry } from './bundle/bundle.registry';
import { OpenApiController } from './bundle/http/openapi.controller';
import { PolicyController } from './bundle/http/policy.controller';
import type { PolicyConfig } from './config';
import { RunFailedConsumer } from './usage/consumers/run-failed.consumer';
import { TaskReceivedConsumer } from './decision/consumers/task-received.consumer';
import { DecisionInputRepository } from './decision/projections/decision-input.repository';
import { DecisionService } from './decision/decision.service';
import { EvaluateResponder } from './decision/consumers/evaluate.responder';
import { EvaluateController } from './decision/http/evaluate.controller';
import { PolicyStateStore } from './usage/policy-state.store';
import { DurablePolicyStateStore } from './usage/durable-policy-state.store';
import { policyProjections } from './decision/projections/projections';
import { CLOCK, MCP_TOOL_FACTS, SIGNING_KEYS, STANDING_APPROVALS } from './decision/tokens';
import { WorkspacePaths } from './decision/workspace-paths';
import { migrations } from './migrations';
import { ReplayService } from './replay/replay.service';

/** Closes the registry's KV watch with the app. */
class RegistryLifecycle {
  constructor(private readonly registry: BundleRegistry) {}
  onApplicationShutdown(): void {
    this.registry.close();
  }
}

/** Composition root: wiring only. */
@Module({})
export class AppModule {
  static forRoot(config: PolicyConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({
          service: 'policy',
          config,
          database: { schema: 'policy', entities: [], migrations },
          redis: true,
        }),
        IdentityModule,
      ],
      controllers: [PolicyController, EvaluateController, OpenApiController, TaskReceivedConsumer, RunFailedConsumer],
      providers: [
        {
          provide: BundleRegistry,
          inject: [DATA_SOURCE, BUS, SUBJECTS, LOGGER, KEYRING],
          useFactory: (ds: DataSource, bus: BusConnection, subjects: Subjects, log: Logger, kr: Keyring) =>
            BundleRegistry.open(
              ds,
              bus,
              subjects,
              config.WARDEN_POLICY_FILE,
              log,
              signingKeysOf(kr, 'policy'),
              config.WARDEN_STREAM_REPLICAS,
            ),
        },
        { provide: ActiveBundle, inject: [BundleRegistry], useFactory: (r: BundleRegistry) => r.active },
        {
          provide: RegistryLifecycle,
          inject: [BundleRegistry],
          useFactory: (r: BundleRegistry) => new RegistryLifecycle(r),
        },
        { provide: SIGNING_KEYS, inject: [KEYRING], useFactory: (kr: Keyring) => signingKeysOf(kr, 'policy') },
        { provide: CLOCK, useValue: systemClock },
        // the upstream MCP catalog and pins, signed by workers / ingest, followed in memory
        {
          provide: MCP_TOOL_FACTS,
          inject: [BUS, KEYRING],
          useFactory: async (bus: BusConnection, kr: Keyring) =>
            (
              await McpCatalogStore.open(bus.js, config.WARDEN_SUBJECT_PREFIX, kr, config.WARDEN_STREAM_REPLICAS)
            ).follow(),
        },
        { provide: STANDING_APPROVALS, useExisting: IdentityDirectory },
        { provide: WorkspacePaths, useFactory: () => new WorkspacePaths(config.WARDEN_WORKSPACE) },
        // Redis counters with a durable copy in Postgres, rebuilt from it when Redis comes back empty
        { provide: PolicyStateStore, useClass: DurablePolicyStateStore },
        DecisionInputRepository,
        DecisionService,
        ReplayService,
        EvaluateResponder,
        ...runProjections((c) => policyProjections(c.ds, c.bus, c.subjects, c.publisher)),
      ],
    };
  }
}
