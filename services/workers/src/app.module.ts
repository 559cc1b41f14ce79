import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { WorkersConfig } from './config';
import { EXECUTE_BATCHES_IN_FLIGHT } from './execution/consumers/role-consumers.service';
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
          // each batch in flight holds its run locks on one connection, queries on up to two others
          database: {
            schema: 'workers',
            entities: [],
            migrations,
            poolSize: config.WORKER_ROLES.length * EXECUTE_BATCHES_IN_FLIGHT * 3 + 4,
          },
          redis: false,
        }),
        ExecutionModule,
      ],
    };
  }
}
