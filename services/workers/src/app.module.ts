import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { WorkersConfig } from './config';
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
          database: { schema: 'workers', entities: [], migrations },
          redis: false,
        }),
      ],
    };
  }
}
