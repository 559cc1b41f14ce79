import { Module, type DynamicModule } from '@nestjs/common';
import { systemClock } from '@warden/kernel';
import { CoreModule } from '@warden/runtime';
import type { IngestConfig } from './config';
import { migrations } from './migrations';
import { SubmissionConsumer } from './submission/consumers/submission.consumer';
import { SubmissionRepository } from './submission/projections/submission.repository';
import { CLOCK, SubmissionService } from './submission/submission.service';

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
          // Redis backs the per-key rate limits of the HTTP edge; readiness reports it
          redis: true,
        }),
      ],
      controllers: [SubmissionConsumer],
      providers: [{ provide: CLOCK, useValue: systemClock }, SubmissionRepository, SubmissionService],
    };
  }
}
