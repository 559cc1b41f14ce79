import { Module } from '@nestjs/common';
import { ApprovalService } from './approval.service';
import { ApprovalSweeper } from './approval.sweeper';
import { ApprovalsController } from './http/approvals.controller';
import { OperatorsController } from './http/operators.controller';
import { StandingApprovalsController } from './http/standing.controller';
import { OpenApiController } from './http/openapi.controller';
import { ReviewService } from '../review/review.service';
import { ReviewsController } from '../review/http/reviews.controller';

/**
 * The approvals engine: voting, expiry and escalation, operators, standing approvals, reviews.
 * Exports {@link ApprovalService} for the Slack and dashboard modules.
 */
@Module({
  controllers: [
    ApprovalsController,
    OperatorsController,
    StandingApprovalsController,
    ReviewsController,
    OpenApiController,
  ],
  providers: [ApprovalService, ApprovalSweeper, ReviewService],
  exports: [ApprovalService, ReviewService],
})
export class ApprovalsModule {}
