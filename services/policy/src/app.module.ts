import { Module, type DynamicModule } from '@nestjs/common';
import { loadSigningKeys, systemClock } from '@warden/kernel';
import { CoreModule, runProjections } from '@warden/runtime';
import { ActiveBundle, loadBundleFile } from './bundle/active-bundle';
import { OpenApiController } from './bundle/http/openapi.controller';
import { PolicyController } from './bundle/http/policy.controller';
import type { PolicyConfig } from './config';
import { TaskReceivedConsumer } from './decision/consumers/task-received.consumer';
import { DecisionService } from './decision/decision.service';
import { policyProjections } from './decision/projections/projections';
import { SessionUsageStore } from './decision/session-usage.store';
import { CLOCK, SIGNING_KEYS } from './decision/tokens';
import { migrations } from './migrations';

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
      ],
      controllers: [PolicyController, OpenApiController, TaskReceivedConsumer],
      providers: [
        {
          provide: ActiveBundle,
          useFactory: async () => new ActiveBundle(await loadBundleFile(config.WARDEN_POLICY_FILE), new Date()),
        },
        { provide: SIGNING_KEYS, useFactory: () => loadSigningKeys(config.WARDEN_SIGNING_KEY, undefined) },
        { provide: CLOCK, useValue: systemClock },
        SessionUsageStore,
        DecisionService,
        ...runProjections((c) => policyProjections(c.ds, c.bus, c.subjects, c.publisher)),
      ],
    };
  }
}
