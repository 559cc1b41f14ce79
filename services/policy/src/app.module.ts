import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { PolicyConfig } from './config';
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
    };
  }
}
