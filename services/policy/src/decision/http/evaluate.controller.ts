import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { Decision } from '@warden/contracts';
import { Auth } from '@warden/runtime';
import { DecisionService } from '../decision.service';
import { dryRunRequest } from '../evaluate.handler';
import { ReplayService } from '../../replay/replay.service';
import type { ReplayResult } from '../domain/replay';

/** Dry-run evaluation for integrators, and replay of one recorded decision. */
@Controller('v1')
export class EvaluateController {
  constructor(
    @Inject(DecisionService) private readonly decisions: DecisionService,
    @Inject(ReplayService) private readonly replays: ReplayService,
  ) {}

  /** Body: a TaskSubmission. The Decision that would be made now; changes nothing. */
  @Post('evaluate')
  @HttpCode(200)
  @Auth({ apiKey: true, role: 'viewer' })
  evaluate(@Body() body: unknown, @Req() req: Request): Promise<Decision> {
    return dryRunRequest(this.decisions, body, req.header('traceparent'));
  }

  /** Re-evaluates a run's recorded input under its recorded bundle digest and compares. */
  @Get('decisions/:run_id/replay')
  @Auth('viewer')
  replay(@Param('run_id') runId: string): Promise<ReplayResult & { policy_digest: string }> {
    return this.replays.replayRun(runId);
  }
}
