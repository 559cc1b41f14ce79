import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { OrchestratorConfig } from './config';
import { migrations } from './migrations';

/** Composition root: wiring only. */
@Module({})
export class AppModule {
  static forRoot(config: OrchestratorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({
          service: 'orchestrator',
          config,
          database: { schema: 'orchestrator', entities: [], migrations },
          redis: false,
        }),
      ],
    };
  }
}
