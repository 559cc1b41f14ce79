import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Logger } from '@warden/observability';
import { IdentityModule, LOGGER, runProjections } from '@warden/runtime';
import { ApprovalsModule } from '../approval/approval.module';
import { ApprovalService } from '../approval/approval.service';
import { addOpenApiPaths } from '../approval/http/openapi.controller';
import { APPROVALS } from '../slack/approvals.port';
import { DashboardRunsRepository } from './projections/dashboard-runs.repository';
import { DASHBOARD_CONFIG, type DashboardEnv } from './dashboard.config';
import { DashboardController } from './http/dashboard.controller';
import { DASHBOARD_OPENAPI_PATHS } from './http/dashboard.openapi';
import { LiveEvents } from './live-events';
import { dashboardProjections } from './projections/dashboard-runs.projection';

/** Forgets finished runs older than `DASHBOARD_RETENTION_HOURS`, every 10 minutes. */
@Injectable()
export class DashboardPruner implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly runs: DashboardRunsRepository,
    @Inject(DASHBOARD_CONFIG) private readonly config: DashboardEnv,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}
  onApplicationBootstrap(): void {
    if (!this.config.DASHBOARD_RUNS) return;
    this.timer = setInterval(() => void this.prune(), 10 * 60_000);
    this.timer.unref();
  }
  async prune(now = new Date()): Promise<number> {
    try {
      const n = await this.runs.prune(new Date(now.getTime() - this.config.DASHBOARD_RETENTION_HOURS * 3600_000));
      if (n) this.log.info('dashboard forgot finished runs', { runs: n });
      return n;
    } catch (err) {
      this.log.warn('dashboard prune failed', { error: err as Error });
      return 0;
    }
  }
  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** The operator dashboard at `GET /`, its API under `/v1/dashboard`, the live stream, and the runs read model. */
@Module({})
export class DashboardModule {
  static forRoot(config: DashboardEnv): DynamicModule {
    addOpenApiPaths(DASHBOARD_OPENAPI_PATHS);
    return {
      module: DashboardModule,
      imports: [IdentityModule, ApprovalsModule],
      controllers: [DashboardController],
      providers: [
        { provide: APPROVALS, useExisting: ApprovalService },
        { provide: DASHBOARD_CONFIG, useValue: config },
        DashboardRunsRepository,
        LiveEvents,
        DashboardPruner,
        ...runProjections((c) => dashboardProjections(c.ds, c.bus, c.subjects, c.publisher, config.DASHBOARD_RUNS)),
      ],
    };
  }
}
