import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, IdentityModule, runProjections } from '@warden/runtime';
import type { OrchestratorConfig } from './config';
import { migrations } from './migrations';
import { OpenApiController } from './run/http/openapi.controller';
import { RunsController } from './run/http/runs.controller';
import { orchestratorProjections } from './run/projections/projections';

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
      controllers: [RunsController, OpenApiController],
      providers: [
        ...runProjections<OrchestratorConfig>((c) =>
          orchestratorProjections(c.ds, c.bus, c.subjects, c.publisher, c.config, c.keyring),
        ),
      ],
    };
  }
}
