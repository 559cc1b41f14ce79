import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule, runProjections } from '@warden/runtime';
import type { OrchestratorConfig } from './config';
import { migrations } from './migrations';
import { OperatorGuard } from './operator/operator.guard';
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
      ],
      controllers: [RunsController],
      providers: [
        OperatorGuard,
        ...runProjections<OrchestratorConfig>((c) =>
          orchestratorProjections(c.ds, c.bus, c.subjects, c.publisher, c.config),
        ),
      ],
    };
  }
}
