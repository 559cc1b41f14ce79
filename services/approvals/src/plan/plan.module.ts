import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approval/approval.module';
import { addOpenApiPaths } from '../approval/http/openapi.controller';
import { PLAN_OPENAPI_PATHS } from './http/plan.openapi';
import { PlansController } from './http/plans.controller';
import { PlanService } from './plan.service';

addOpenApiPaths(PLAN_OPENAPI_PATHS);

/** Plan approvals: a plan's escalated items shown and decided as one approval (REST; Slack and the dashboard use {@link PlanService}). */
@Module({
  imports: [ApprovalsModule],
  controllers: [PlansController],
  providers: [PlanService],
  exports: [PlanService],
})
export class PlanModule {}
