import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Decision } from '@warden/contracts';
import { Logger } from '@warden/observability';
import { Auth, LOGGER, type AuthedRequest } from '@warden/runtime';
import { UNBOUND_KEY_WARNING, agentMismatch, bindingErrors } from '@warden/identity';
import { DecisionService } from '../decision.service';
import { dryRunRequest } from '../dry-run';
import { ReplayService } from '../../replay/replay.service';
import type { ReplayResult } from '@warden/policy-language';

/** Dry-run evaluation for integrators, and replay of one recorded decision. */
@Controller('v1')
export class EvaluateController {
  private readonly log: Logger;

  constructor(
    @Inject(DecisionService) private readonly decisions: DecisionService,
    @Inject(ReplayService) private readonly replays: ReplayService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('evaluate');
  }

  /**
   * Body: a TaskSubmission. The Decision that would be made now; changes nothing. An API key bound to
   * another agent id or role is refused `403` (`KEY.AGENT_MISMATCH`); an unbound one is answered with
   * a deprecation warning.
   */
  @Post('evaluate')
  @HttpCode(200)
  @Auth({ apiKey: true, role: 'viewer' })
  evaluate(
    @Body() body: unknown,
    @Req() req: Request & AuthedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Decision> {
    const principal = req.principal!;
    if (principal.kind === 'api_key' && !principal.binding) {
      res.setHeader('Deprecation', 'true');
      res.setHeader('Warning', UNBOUND_KEY_WARNING);
      this.log.warn('deprecated: API key is not bound to an agent; bind it (POST /v1/keys with agent)', {
        key_id: principal.id,
      });
    }
    return dryRunRequest(this.decisions, body, req.header('traceparent'), (s) => {
      const errors = principal.kind === 'api_key' ? bindingErrors(principal, s.agent) : [];
      if (errors.length > 0) throw agentMismatch(errors);
    });
  }

  /** Re-evaluates a run's recorded input under its recorded bundle digest and compares. */
  @Get('decisions/:run_id/replay')
  @Auth('viewer')
  replay(@Param('run_id') runId: string): Promise<ReplayResult & { policy_digest: string }> {
    return this.replays.replayRun(runId);
  }
}
