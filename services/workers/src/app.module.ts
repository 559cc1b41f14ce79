import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { WorkersConfig } from './config';
import { ExecutionModule } from './execution/execution.module';
import { migrations } from './migrations';

/** Composition root: wiring only. */
@Module({})
export class AppModule {
  static forRoot(config: WorkersConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({
          service: 'workers',
          config,
          // each running command holds its run lock on one connection and queries on another
          database: {
            schema: 'workers',
            entities: [],
            migrations,
            poolSize: config.WORKER_ROLES.length * config.WORKER_CONCURRENCY * 2 + 4,
          },
          redis: false,
        }),
        ExecutionModule,
      ],
    };
  }
}
