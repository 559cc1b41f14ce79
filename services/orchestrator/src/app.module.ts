import { Module, type DynamicModule } from '@nestjs/common';
import { CoreModule } from '@warden/runtime';
import type { OrchestratorConfig } from './config';
import { migrations } from './migrations';
import { OperatorGuard } from './operator/operator.guard';
import { RunsController } from './run/http/runs.controller';
import { ProjectionRunner } from './run/projections/projections';

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
      providers: [OperatorGuard, ProjectionRunner],
    };
  }
}
