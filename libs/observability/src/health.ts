import { Controller, Get, Header, HttpCode, Inject, Module, Res, type DynamicModule } from '@nestjs/common';
import type { Response } from 'express';
import { registry } from './metrics';

/** A named readiness check: resolves when the dependency is usable, rejects (or returns false) when not. */
export interface HealthCheck {
  name: string;
  check: () => Promise<boolean | void>;
}

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

async function runCheck(c: HealthCheck, timeoutMs: number): Promise<{ name: string; ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const r = await Promise.race([c.check(), timeout]);
    return r === false ? { name: c.name, ok: false, error: 'check returned false' } : { name: c.name, ok: true };
  } catch (err) {
    return { name: c.name, ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

@Controller()
export class HealthController {
  constructor(@Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[]) {}

  @Get('health/live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const results = await Promise.all(this.checks.map((c) => runCheck(c, 2000)));
    const ok = results.every((r) => r.ok);
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ready' : 'not_ready',
      checks: Object.fromEntries(
        results.map((r) => [r.name, r.ok ? { status: 'up' } : { status: 'down', error: r.error }]),
      ),
    });
  }

  @Get('metrics')
  @Header('Content-Type', registry.contentType)
  metrics(): Promise<string> {
    return registry.metrics();
  }
}

/**
 * `/health/live`, `/health/ready` (JSON naming each check) and `/metrics` for a service.
 * @example HealthModule.forRoot({ useFactory: (bus, db) => [natsCheck(bus), pgCheck(db)], inject: [Bus, DataSource] })
 */
@Module({})
export class HealthModule {
  static forRoot(opts: { useFactory: (...deps: never[]) => HealthCheck[]; inject?: unknown[] }): DynamicModule {
    return {
      module: HealthModule,
      controllers: [HealthController],
      providers: [{ provide: HEALTH_CHECKS, useFactory: opts.useFactory, inject: (opts.inject ?? []) as never[] }],
    };
  }
}
