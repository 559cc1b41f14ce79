import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, IdentityModule, runProjections } from '@warden/runtime';
import { ApprovalsModule } from './approval/approval.module';
import { SlackModule } from './slack/slack.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { PlanModule } from './plan/plan.module';
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
          redis: true,
        }),
        IdentityModule,
        ApprovalsModule,
        PlanModule,
        SlackModule.forRoot(config),
        DashboardModule.forRoot(config),
      ],
      providers: runProjections((c) => approvalsProjections(c.ds, c.bus, c.subjects, c.publisher)),
    };
  }
}
