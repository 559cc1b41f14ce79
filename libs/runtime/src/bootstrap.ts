import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { JetStreamTransport, attachJetStream, type BusConnection } from '@warden/bus';
import type { Subjects } from '@warden/contracts';
import { Logger, NestLoggerAdapter, initMetrics, stopTracing } from '@warden/observability';
import { BUS, CONFIG, SUBJECTS } from './core.module';
import type { BaseEnv } from './config';
import { ProblemFilter } from './problem.filter';

export interface StartOptions {
  service: string;
  port: number;
  host?: string;
  /** Start `@JetStreamConsumer` handlers (default true). */
  consumers?: boolean;
}

/**
 * Creates the Nest app, starts its bus consumers, listens on `port`, and returns it. Used by `main.ts`
 * and by the integration tests (which start all five in one process, each on its own port).
 * @example const app = await startService(AppModule.forRoot(config), { service: 'policy', port: 7102 })
 */
export async function startService(module: Type | DynamicModule, opts: StartOptions): Promise<INestApplication> {
  initMetrics(opts.service);
  const log = new Logger(opts.service);
  const app = await NestFactory.create<NestExpressApplication>(module, {
    logger: new NestLoggerAdapter(log),
    abortOnError: false,
    bodyParser: false,
  });
  app.useBodyParser('json', { limit: '300kb' });
  app.useGlobalFilters(new ProblemFilter());
  // no enableShutdownHooks(): runMain owns SIGINT/SIGTERM (Nest's hook re-raises the signal after closing)
  if (opts.consumers !== false) {
    const bus = app.get<BusConnection>(BUS);
    const subjects = app.get<Subjects>(SUBJECTS);
    const config = app.get<BaseEnv>(CONFIG);
    const transport = new JetStreamTransport(bus, subjects, opts.service, { ackWaitMs: config.WARDEN_ACK_WAIT_MS });
    await attachJetStream(app, transport);
    // stop taking messages and settle those in hand before the connections close
    const close = app.close.bind(app);
    app.close = async () => {
      await transport.close();
      await close();
    };
  }
  await app.listen(opts.port, opts.host ?? '0.0.0.0');
  log.info('listening', { port: opts.port });
  return app;
}

/**
 * Runs a service as a process: starts it, and on SIGINT/SIGTERM closes consumers, HTTP and
 * connections before exiting. A failed start prints why and exits 1.
 */
export function runMain(start: () => Promise<INestApplication>, service: string): void {
  const log = new Logger(service);
  start().then(
    (app) => {
      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        log.info('shutting down', { signal });
        const force = setTimeout(() => process.exit(1), 10_000);
        force.unref();
        app
          .close()
          .then(() => stopTracing())
          .then(() => process.exit(0))
          .catch((err: unknown) => {
            log.error('shutdown failed', { error: err as Error });
            process.exit(1);
          });
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    },
    (err: unknown) => {
      log.error('failed to start', { error: err as Error });
      process.exit(1);
    },
  );
}
