import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, runProjections } from '@warden/runtime';
import type { ApprovalsConfig } from './config';
import { approvalsProjections } from './approval/projections/approval.projection';
import { migrations } from './migrations';

/** Composition root: wiring only. */
@Module({})
export class AppModule {
  static forRoot(config: ApprovalsConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({
          service: 'approvals',
          config,
          database: { schema: 'approvals', entities: [], migrations },
          redis: false,
        }),
      ],
      providers: runProjections((c) => approvalsProjections(c.ds, c.bus, c.subjects, c.publisher)),
    };
  }
}
