import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Body, Controller, Get, Header, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { runStatusScript, toFieldErrors } from '@warden/contracts';
import { DomainError, ValidationError, isUuid } from '@warden/kernel';
import { Auth, writeProblem, type AuthedRequest } from '@warden/runtime';
import { APPROVALS, type ApprovalsPort, type ApprovalView } from '../../slack/approvals.port';
import { DashboardRunsRepository, type DashboardRun } from '../projections/dashboard-runs.repository';
import { LiveEvents } from '../live-events';
import type { DashboardMeResponse } from './dashboard.schemas';

/** The static assets: next to this file when run from source, under src/ when run from dist/. */
function staticDir(): string {
  const candidates = [resolve(__dirname, '../static'), resolve(__dirname, '../../../src/dashboard/static')];
  const dir = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!dir) throw new Error(`dashboard assets not found in ${candidates.join(' or ')}`);
  return dir;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  // plans awaiting approval: one form per plan, a checkbox per item (POST /v1/plans/:id/votes)
  'plans.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};
/** Assets built at startup: the run status machine, from the same module the services use. */
const GENERATED: Record<string, () => string> = { 'run-status.js': runStatusScript };

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const VoteBody = z.strictObject({
  comment: z.string().trim().max(2000).optional(),
  standing: z
    .strictObject({ scope: z.enum(['session', 'agent']), ttl_seconds: z.number().int().positive() })
    .optional(),
});

export const RunsQuery = z.object({
  view: z.enum(['active', 'recent']).default('recent'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

function parse<T extends z.ZodType>(schema: T, value: unknown, prefix = ''): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw new ValidationError(
      toFieldErrors(r.error).map((e) => ({ ...e, path: prefix ? `${prefix}${e.path ? `.${e.path}` : ''}` : e.path })),
    );
  return r.data;
}

function uuidParam(name: string, value: string): string {
  if (!isUuid(value)) throw new ValidationError([{ path: name, message: 'must be a UUID' }]);
  return value.toLowerCase();
}

/**
 * The operator dashboard (`GET /`): plain HTML + JS, no build step. Its API lives under
 * `/v1/dashboard` (operator token; `viewer` reads, `approver` votes with channel `dashboard`), and
 * `GET /v1/stream` is the live event stream (SSE) with the same bearer token.
 */
@Controller()
export class DashboardController {
  private readonly assets = new Map<string, Asset>();

  constructor(
    private readonly runs: DashboardRunsRepository,
    private readonly live: LiveEvents,
    @Inject(APPROVALS) private readonly approvals: ApprovalsPort,
  ) {
    const dir = staticDir();
    const add = (name: string, type: string, body: Buffer) =>
      this.assets.set(name, {
        body,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      });
    for (const [name, type] of Object.entries(ASSETS)) add(name, type, readFileSync(join(dir, name)));
    for (const [name, build] of Object.entries(GENERATED))
      add(name, 'text/javascript; charset=utf-8', Buffer.from(build()));
  }

  @Get()
  index(@Req() req: Request, @Res() res: Response): void {
    this.send('index.html', req, res);
  }

  @Get('dashboard/:asset')
  asset(@Param('asset') name: string, @Req() req: Request, @Res() res: Response): void {
    if (name === 'index.html' || !this.assets.has(name)) {
      return writeProblem(res, { type: 'about:blank', title: 'Not Found', status: 404 });
    }
    this.send(name, req, res);
  }

  private send(name: string, req: Request, res: Response): void {
    const a = this.assets.get(name)!;
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', a.etag);
    if (req.headers['if-none-match'] === a.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).type(a.type).send(a.body);
  }

  @Get('v1/dashboard/me')
  @Auth('viewer')
  me(@Req() req: AuthedRequest): z.output<typeof DashboardMeResponse> {
    const p = req.principal!;
    return { id: p.id, name: p.name, roles: p.roles, max_tier: p.maxTier };
  }

  @Get('v1/dashboard/runs')
  @Auth('viewer')
  @Header('Cache-Control', 'no-store')
  async listRuns(@Query() q: Record<string, unknown>): Promise<{ runs: DashboardRun[] }> {
    const { view, limit } = parse(RunsQuery, q);
    return { runs: await this.runs.list(view, limit) };
  }

  @Get('v1/dashboard/runs/:run_id')
  @Auth('viewer')
  @Header('Cache-Control', 'no-store')
  async run(@Param('run_id') runId: string): Promise<{ run: DashboardRun; events: unknown[] }> {
    const found = await this.runs.run(uuidParam('run_id', runId));
    if (!found) throw new DomainError('RUN.NOT_FOUND', 'no such run (or not yet seen by the dashboard)');
    return found;
  }

  @Get('v1/dashboard/inbox')
  @Auth('viewer')
  @Header('Cache-Control', 'no-store')
  async inbox(): Promise<{ items: ApprovalView[] }> {
    const { items } = await this.approvals.list({ status: 'pending', limit: 200 });
    return { items };
  }

  @Post('v1/dashboard/approvals/:id/approve')
  @HttpCode(200)
  @Auth('approver')
  approve(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<ApprovalView> {
    return this.vote(id, 'approve', body, req);
  }

  @Post('v1/dashboard/approvals/:id/reject')
  @HttpCode(200)
  @Auth('approver')
  reject(@Param('id') id: string, @Body() body: unknown, @Req() req: AuthedRequest): Promise<ApprovalView> {
    return this.vote(id, 'reject', body, req);
  }

  private async vote(id: string, vote: 'approve' | 'reject', body: unknown, req: AuthedRequest): Promise<ApprovalView> {
    const approvalId = uuidParam('id', id);
    const b = parse(VoteBody, body);
    return this.approvals.vote({
      approvalId,
      principal: req.principal!,
      vote,
      channel: 'dashboard',
      ...(b.comment ? { comment: b.comment } : {}),
      ...(b.standing && vote === 'approve' ? { standing: b.standing } : {}),
    });
  }

  /** Live events (SSE). Send `Authorization: Bearer <operator token>`; the dashboard reads it with fetch(). */
  @Get('v1/stream')
  @Auth('viewer')
  stream(@Req() req: AuthedRequest, @Res() res: Response): void {
    this.live.attach(res, req.principal!.id);
  }
}
