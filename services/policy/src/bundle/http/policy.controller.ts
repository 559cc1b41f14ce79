import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Req } from '@nestjs/common';
import type { Request } from 'express';
import { Auth, parseBody, type AuthedRequest, type RawBodyRequest } from '@warden/runtime';
import { DomainError, ValidationError } from '@warden/kernel';
import type { BundleInfo } from '../active-bundle';
import { BundleRegistry } from '../bundle.registry';
import type { StoredBundle } from '../domain/bundle.rules';
import { MAX_BUNDLE_BYTES, MAX_BUNDLE_DEPTH, tooDeep, type WhatIfReport } from '@warden/policy-language';
import { ReplayService } from '../../replay/replay.service';
import { ActivateBody } from './policy.schemas';

const YAML_TYPES = /^(application\/(x-)?yaml|text\/(x-)?yaml|text\/plain)\b/i;

/**
 * The active bundle, pushes and rollbacks (admin), stored bundles and what-if. `GET /v1/policy` is
 * public: version and digest reveal no rule.
 */
@Controller('v1/policy')
export class PolicyController {
  constructor(
    @Inject(BundleRegistry) private readonly registry: BundleRegistry,
    @Inject(ReplayService) private readonly replays: ReplayService,
  ) {}

  @Get()
  get(): BundleInfo {
    return this.registry.info();
  }

  /** Body: the bundle as YAML (`Content-Type: application/yaml` or text/plain) or JSON. */
  @Put()
  @Auth('admin')
  async put(@Req() req: AuthedRequest): Promise<BundleInfo> {
    return this.registry.push(bundleText(req), principalName(req));
  }

  /** Rollback (or roll forward): activate a stored bundle by digest. */
  @Put('active')
  @Auth('admin')
  async activate(@Body() body: unknown, @Req() req: AuthedRequest): Promise<BundleInfo> {
    const { digest } = parseBody(ActivateBody, body);
    return this.registry.activate(digest, principalName(req));
  }

  @Get('bundles')
  @Auth('viewer')
  list(): Promise<StoredBundle[]> {
    return this.registry.list();
  }

  @Get('bundles/:digest')
  @Auth('viewer')
  source(@Param('digest') digest: string): Promise<{ digest: string; version: string; source: string }> {
    return this.registry.source(digest);
  }

  /**
   * Body `{bundle: "<yaml or json text>" | {…}, since?: "24h" | ISO time, limit?: n}`: evaluates the
   * candidate over recorded decisions (nothing is activated) and reports what would change.
   */
  @Post('whatif')
  @HttpCode(200)
  @Auth('admin')
  whatIf(@Body() body: unknown): Promise<WhatIfReport & { candidate: { version: string; digest: string } }> {
    const b = (body ?? {}) as { bundle?: unknown; since?: unknown; limit?: unknown };
    if (b.bundle === undefined || b.bundle === null)
      throw new ValidationError([{ path: 'bundle', message: 'is required: the candidate bundle (YAML text or JSON)' }]);
    if (typeof b.bundle !== 'string') {
      if (typeof b.bundle !== 'object')
        throw new ValidationError([{ path: 'bundle', message: 'must be the bundle as YAML text or a JSON object' }]);
      // before stringifying: a deep enough object overflows JSON.stringify's stack
      const deep = tooDeep(b.bundle);
      if (deep !== undefined)
        throw new ValidationError([
          { path: `bundle.${deep}`, message: `nests deeper than ${MAX_BUNDLE_DEPTH} levels` },
        ]);
    }
    const text = typeof b.bundle === 'string' ? b.bundle : JSON.stringify(b.bundle);
    if (Buffer.byteLength(text, 'utf8') > MAX_BUNDLE_BYTES)
      throw new ValidationError([{ path: 'bundle', message: `is larger than ${MAX_BUNDLE_BYTES} bytes` }]);
    return this.replays.whatIf(text, parseSince(b.since), parseLimit(b.limit));
  }

  /** Replays recorded decisions (`{since?, limit?}`) under their recorded digests; lists any that differ. */
  @Post('replay')
  @HttpCode(200)
  @Auth('viewer')
  replayMany(@Body() body: unknown): ReturnType<ReplayService['replayMany']> {
    const b = (body ?? {}) as { since?: unknown; limit?: unknown };
    return this.replays.replayMany(parseSince(b.since), parseLimit(b.limit));
  }
}

/** The furthest back `since` may reach: 10 years (a duration) or 1970 (an ISO time). */
export const MAX_SINCE_SECONDS = 10 * 366 * 86400;

/** `24h`, `90m`, `7d` ago (at most {@link MAX_SINCE_SECONDS}), or an ISO time from 1970 on; default 24 h ago. */
export function parseSince(since: unknown, now = new Date()): Date {
  if (since === undefined || since === null) return new Date(now.getTime() - 86400_000);
  if (typeof since === 'string' && since.length <= 64) {
    const m = /^(\d{1,12})(s|m|h|d)$/.exec(since.trim());
    if (m) {
      const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's'];
      if (seconds > MAX_SINCE_SECONDS)
        throw new ValidationError([{ path: 'since', message: `must be at most ${MAX_SINCE_SECONDS / 86400}d back` }]);
      return new Date(now.getTime() - seconds * 1000);
    }
    const t = Date.parse(since);
    if (!Number.isNaN(t)) {
      if (t < 0 || t > now.getTime() + 86400_000)
        throw new ValidationError([{ path: 'since', message: 'must be a time between 1970 and now' }]);
      return new Date(t);
    }
  }
  throw new ValidationError([{ path: 'since', message: 'must be a duration like 24h, 90m, 7d or an ISO time' }]);
}

function parseLimit(limit: unknown): number {
  if (limit === undefined || limit === null) return 10_000;
  if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= 100_000) return limit;
  throw new ValidationError([{ path: 'limit', message: 'must be an integer from 1 to 100000' }]);
}

function principalName(req: AuthedRequest): string {
  const p = req.principal;
  return p ? `${p.kind}:${p.name}` : 'unknown';
}

/** The bundle text of a PUT: JSON bodies are parsed already, YAML is the raw body (up to the bundle limit). */
function bundleText(req: Request): string {
  const type = req.headers['content-type'] ?? '';
  if (/json/i.test(type)) {
    if (req.body === undefined || req.body === null || typeof req.body !== 'object')
      throw new ValidationError([{ path: '', message: 'body must be a bundle (a JSON object)' }]);
    return JSON.stringify(req.body);
  }
  if (type && !YAML_TYPES.test(type))
    throw new DomainError('POLICY.UNSUPPORTED_MEDIA', `send the bundle as application/yaml or application/json`);
  // read by the input gate: decoded, UTF-8 without NUL, and within the route's limit
  const raw = (req as RawBodyRequest).rawBody ?? Buffer.alloc(0);
  if (raw.length > MAX_BUNDLE_BYTES)
    throw new DomainError('POLICY.TOO_LARGE', `bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const text = raw.toString('utf8');
  if (!text.trim()) throw new ValidationError([{ path: '', message: 'body is empty: send the bundle' }]);
  return text;
}
