import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { IngestConfig } from './config';
import { migrations } from './migrations';

/** Composition root: wiring only. */
@Module({})
export class AppModule {
  static forRoot(config: IngestConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({
          service: 'ingest',
          config,
          database: { schema: 'ingest', entities: [], migrations },
          redis: true,
        }),
      ],
    };
  }
}
