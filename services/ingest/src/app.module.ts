import { Module, type DynamicModule } from '@nestjs/common';
import { systemClock } from '@warden/kernel';
import { MAX_SUBMISSION_BYTES } from '@warden/contracts';
import { BODY_LIMITS, CoreModule, IdentityModule } from '@warden/runtime';
import type { IngestConfig } from './config';
import { ExecutionController } from './execution/http/execution.controller';
import { ExecutionReportService } from './execution/execution-report.service';
import { OpenApiController } from './api/http/openapi.controller';
import { RateLimiter } from './api/rate-limiter';
import { KeysController } from './keys/http/keys.controller';
import { KeysService } from './keys/keys.service';
import { McpController } from './mcp/http/mcp.controller';
import { McpGateway } from './mcp/mcp-gateway.service';
import { McpSessionRepository } from './mcp/projections/mcp-session.repository';
import { RunCanceller } from './mcp/run-canceller';
import { RunWatcher } from './mcp/run-watcher';
import { kvUpstreamCatalogProvider } from './upstream/kv-upstream-catalog';
import { McpServersController } from './upstream/http/mcp-servers.controller';
import { upstreamCatalogProvider } from './upstream/upstream-catalog.provider';
import { migrations } from './migrations';
import { PlansController } from './plan/http/plan.controller';
import { SubmissionConsumer } from './submission/consumers/submission.consumer';
import { HttpIntakeService } from './submission/http/http-intake.service';
import { TasksController } from './submission/http/tasks.controller';
import { SubmissionRepository } from './submission/projections/submission.repository';
import { CLOCK, SubmissionService } from './submission/submission.service';
import { SourcesController } from './webhooks/http/sources.controller';
import { WebhooksController } from './webhooks/http/webhooks.controller';
import { WebhooksService } from './webhooks/webhooks.service';

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
          // Redis backs the per-key rate limits and webhook replay protection; readiness reports it
          redis: true,
        }),
        IdentityModule,
      ],
      // SourcesController before WebhooksController: `/v1/webhooks/sources` must not match `:source`
      controllers: [
        SubmissionConsumer,
        TasksController,
        PlansController,
        ExecutionController,
        KeysController,
        SourcesController,
        WebhooksController,
        OpenApiController,
        McpController,
        McpServersController,
      ],
      providers: [
        { provide: CLOCK, useValue: systemClock },
        // submissions and webhooks: 256 KiB (CONTRACT §2), refused while streaming
        {
          provide: BODY_LIMITS,
          useValue: [
            { method: 'POST', path: /^\/v1\/tasks\/?$/, bytes: MAX_SUBMISSION_BYTES },
            { method: 'POST', path: /^\/v1\/webhooks\/(?!sources\/?$)[^/]+\/?$/, bytes: MAX_SUBMISSION_BYTES },
            // a tools/call becomes one submission: the same bound
            { method: 'POST', path: /^\/mcp\/?$/, bytes: MAX_SUBMISSION_BYTES },
          ],
        },
        SubmissionRepository,
        SubmissionService,
        HttpIntakeService,
        RateLimiter,
        KeysService,
        WebhooksService,
        ExecutionReportService,
        McpSessionRepository,
        RunWatcher,
        RunCanceller,
        McpGateway,
        kvUpstreamCatalogProvider,
        upstreamCatalogProvider,
      ],
    };
  }
}
