import { Module, type DynamicModule } from '@nestjs/common';
import { CONFIG, CoreModule, IdentityModule, runProjections } from '@warden/runtime';
import { AUDIT_KEYS, AuditController } from './audit/http/audit.controller';
import { auditKeysFromConfig } from './audit/audit-key';
import type { OrchestratorConfig } from './config';
import { migrations } from './migrations';
import { OpenApiController } from './run/http/openapi.controller';
import { RunsController } from './run/http/runs.controller';
import { RunStreamController } from './run/http/run-stream.controller';
import { RunNotifier } from './run/run-notifier';
import { GrantSweeper } from './run/grant-sweeper';
import { orchestratorProjections } from './projections';
import { DeadLettersController } from './dead-letter/http/dead-letters.controller';
import { DeadLetterReader } from './dead-letter/dead-letter.reader';

/** Composition root: wiring only. */
@Module({})
export class AppModule {
  static forRoot(config: OrchestratorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({ service: 'orchestrator', config, database: { schema: 'orchestrator', migrations } }),
        IdentityModule,
      ],
      controllers: [RunsController, RunStreamController, DeadLettersController, AuditController, OpenApiController],
      providers: [
        ...runProjections<OrchestratorConfig>((c) =>
          orchestratorProjections(c.ds, c.bus, c.subjects, c.publisher, c.config, c.keyring),
        ),
        DeadLetterReader,
        RunNotifier,
        GrantSweeper,
        { provide: AUDIT_KEYS, inject: [CONFIG], useFactory: (c: OrchestratorConfig) => auditKeysFromConfig(c) },
      ],
    };
  }
}
