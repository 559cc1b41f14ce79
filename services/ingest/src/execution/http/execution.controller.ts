import { Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ExecutionReportRequest, parseWith } from '@warden/contracts';
import { isUuid, newTraceId } from '@warden/kernel';
import { Auth, sendProblem, type AuthedRequest } from '@warden/runtime';
import { ExecutionReportService } from '../execution-report.service';

/**
 * `POST /v1/runs/:run_id/execution` — a client executor reports the outcome of the one execution its
 * grant allowed (bring your own executor). API key of the grant's agent + the signed grant. `202`
 * `{run_id, grant_id, status: "reported"}`; the run then ends `succeeded` or `failed` (follow it on
 * the orchestrator's `GET /v1/runs/:run_id/stream`). `400` invalid (field paths), `403` a forged grant
 * (`GRANT.BAD_SIGNATURE`) or a key of another agent (`KEY.AGENT_MISMATCH`, `KEY.NOT_BOUND`), `409` a
 * second report (`GRANT.ALREADY_USED`) or another action (`GRANT.ACTION_MISMATCH`), `410` past the
 * grant's deadline (`GRANT.EXPIRED`), `422` a grant for another run.
 */
@Controller('v1/runs')
export class ExecutionController {
  constructor(@Inject(ExecutionReportService) private readonly reports: ExecutionReportService) {}

  @Post(':runId/execution')
  @Auth({ apiKey: true })
  async report(
    @Param('runId') runId: string,
    @Req() req: Request & AuthedRequest,
    @Res() res: Response,
  ): Promise<void> {
    if (!isUuid(runId)) return sendProblem(res, 'RUN.NOT_FOUND', 'no such run');
    const parsed = parseWith(ExecutionReportRequest, req.body);
    if (!parsed.ok)
      return sendProblem(
        res,
        'VALIDATION.FAILED',
        parsed.errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; '),
        { errors: parsed.errors },
      );
    const traceparent = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : '';
    const traceId = parsed.value.grant.trace_id ?? /^00-([0-9a-f]{32})-/.exec(traceparent)?.[1] ?? newTraceId();
    const out = await this.reports.report(parsed.value, runId, req.principal!, traceId);
    if ('code' in out)
      return sendProblem(
        res,
        out.code,
        out.detail,
        out.path ? { errors: [{ path: out.path, message: out.detail }] } : {},
      );
    res.status(202).json({ run_id: runId, grant_id: out.grantId, status: 'reported' });
  }
}
