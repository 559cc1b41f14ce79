import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  MAX_SUBMISSION_BYTES,
  PlanSubmission,
  TaskSubmission,
  decodeJson,
  parseWith,
  type FieldError,
} from '@warden/contracts';
import { newId } from '@warden/kernel';
import { currentTraceparent } from '@warden/observability';
import { Auth, sendProblem, type AuthedRequest, type RawBodyRequest } from '@warden/runtime';
import { bindingErrors } from '@warden/identity';
import { RateLimiter } from '../../api/rate-limiter';
import { KeysService } from '../../keys/keys.service';
import { httpSource } from '../../submission/domain/submission';
import { HttpIntakeService, type HttpIntakeResult } from '../../submission/http/http-intake.service';
import { ingestMetrics } from '../../submission/submission.metrics';

/**
 * The ordinary submissions a plan stands for: item `i` is a `TaskSubmission` with
 * `plan: {id, index: i, count}` and the idempotency key `plan:<id>:<i>` (a retry names the same runs).
 * @example planSubmissions(plan, 'f3c…')[0].plan // { id: 'f3c…', index: 0, count: 3 }
 */
export function planSubmissions(plan: PlanSubmission, planId: string): TaskSubmission[] {
  return plan.items.map((item, index) => ({
    idempotency_key: `plan:${planId}:${index}`,
    agent: plan.agent,
    ...(plan.session_id ? { session_id: plan.session_id } : {}),
    action: { tool: item.tool, args: item.args },
    ...((item.intent ?? plan.intent) !== undefined ? { intent: item.intent ?? plan.intent } : {}),
    ...(item.usage ? { usage: item.usage } : {}),
    ...(plan.metadata ? { metadata: plan.metadata } : {}),
    plan: { id: planId, index, count: plan.items.length },
  }));
}

/**
 * `POST /v1/plans`: an agent proposes an ordered list of actions at once. Each item becomes an ordinary
 * run (policy, orchestrator, workers and audit treat it like any other); the approvals service shows
 * the items that escalate as one approval. Validation is all or nothing: an invalid item refuses the
 * whole plan (400, `errors[].path` like `items.2.tool`) before anything is stored. The key's binding
 * and rate limit apply as on `POST /v1/tasks` (one token per item).
 */
@Controller('v1/plans')
export class PlansController {
  constructor(
    @Inject(HttpIntakeService) private readonly intake: HttpIntakeService,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
    @Inject(KeysService) private readonly keys: KeysService,
  ) {}

  @Post()
  @Auth({ apiKey: true })
  async propose(@Req() req: Request & AuthedRequest & RawBodyRequest, @Res() res: Response): Promise<void> {
    const principal = req.principal!;
    this.keys.touch(principal.id);
    if (!req.rawBody) return sendProblem(res, 'INGEST.NO_RAW_BODY', 'the input gate is not installed');
    const decoded = decodeJson(req.rawBody);
    if (!decoded.ok) return refuse(res, 'VALIDATION.FAILED', decoded.errors);
    const parsed = parseWith(PlanSubmission, decoded.value);
    if (!parsed.ok) return refuse(res, 'VALIDATION.FAILED', parsed.errors);
    const plan = parsed.value;
    const outside = bindingErrors(principal, plan.agent);
    if (outside.length) return refuse(res, 'KEY.AGENT_MISMATCH', outside);
    const planId = plan.plan_id ?? newId();
    // every item must be a valid submission on its own before any is handed in
    const submissions: TaskSubmission[] = [];
    const errors: FieldError[] = [];
    planSubmissions(plan, planId).forEach((s, i) => {
      const r = parseWith(TaskSubmission, s);
      if (r.ok && Buffer.byteLength(JSON.stringify(r.value)) > MAX_SUBMISSION_BYTES)
        errors.push({ path: `items.${i}`, message: `is over ${MAX_SUBMISSION_BYTES} bytes as a submission` });
      else if (r.ok) submissions.push(r.value);
      else errors.push(...r.errors.map((e) => ({ path: remap(e.path, i), message: e.message })));
    });
    if (errors.length) return refuse(res, 'VALIDATION.FAILED', errors);
    for (let n = 0; n < submissions.length; n++) {
      const rate = await this.limiter.take(principal.id);
      if (!rate.allowed) {
        ingestMetrics.rateLimited.inc();
        return sendProblem(res, 'INGEST.RATE_LIMITED', 'this API key is over its rate limit', {
          retryAfterSeconds: rate.retryAfterSeconds,
        });
      }
    }
    const requestId = newId();
    const traceparent = currentTraceparent(
      typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined,
    );
    const submittedBy = {
      kind: 'api_key' as const,
      id: principal.id,
      ...(principal.owner ? { owner: principal.owner } : {}),
    };
    const results = await Promise.all(
      submissions.map((s, index) =>
        this.intake.submit(
          'http',
          Buffer.from(JSON.stringify(s)),
          (submission) => httpSource({ requestId: `${requestId}:${index}`, submission, traceparent, submittedBy }),
          (submission) => bindingErrors(principal, submission.agent),
        ),
      ),
    );
    const failed = results.find((r) => r.kind === 'refused' || r.kind === 'unavailable');
    if (failed?.kind === 'unavailable')
      return sendProblem(res, 'INGEST.UNAVAILABLE', `plan ${planId} was not fully stored; retry with its plan_id`, {
        retryAfterSeconds: 1,
      });
    if (failed?.kind === 'refused')
      return refuse(
        res,
        failed.code,
        failed.errors.map((e) => ({ path: remap(e.path, results.indexOf(failed)), message: e.message })),
      );
    const runs = results.map((r, index) => ({
      index,
      run_id: (r as Extract<HttpIntakeResult, { runId: string }>).runId,
      duplicate: r.kind === 'duplicate',
    }));
    const duplicate = runs.every((r) => r.duplicate);
    res.status(duplicate ? 200 : 202).json({ plan_id: planId, status: 'received', duplicate, runs });
  }
}

/** A submission's error path as the plan's (`action.tool` of item 2 → `items.2.tool`). */
function remap(path: string, index: number): string {
  if (path.startsWith('action.')) return `items.${index}.${path.slice('action.'.length)}`;
  if (path === 'intent' || path === 'usage' || path.startsWith('usage.')) return `items.${index}.${path}`;
  return path;
}

function refuse(res: Response, code: string, errors: FieldError[]): void {
  sendProblem(
    res,
    code,
    errors
      .slice(0, 5)
      .map((e) => `${e.path || '(root)'}: ${e.message}`)
      .join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : ''),
    { errors },
  );
}
