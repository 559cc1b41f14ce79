import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { JetStreamTransport, attachJetStream, type BusConnection } from '@warden/bus';
import type { Subjects } from '@warden/contracts';
import { Logger, NestLoggerAdapter, initMetrics, stopTracing } from '@warden/observability';
import { BUS, CONFIG, SUBJECTS } from './core.module';
import type { BaseEnv } from './config';
import { ProblemFilter } from './problem.filter';
import { BODY_LIMITS, inputGate, type BodyLimit } from './input-gate';

/**
 * Slow-client bounds instead of Node's 60 s / 300 s defaults: the headers must arrive within 10 s and
 * the whole request within 30 s (a response may take longer); an idle keep-alive connection closes after 5 s.
 */
export const HTTP_TIMEOUTS = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000 };

/**
 * Connections the kernel may hold accepted-but-not-yet-taken for a listening socket (Linux caps it at
 * `net.core.somaxconn`, 4096 on current kernels). Node's default is 511: a service whose event loop is
 * busy takes connections slower than a burst brings them, the queue overflows, and the kernel drops
 * the handshakes it cannot queue and, after its SYN-ACK retries (~30 s), resets the client, which had
 * already sent its request (measured: an MCP client at 200 calls/s against a gateway serving ~80/s).
 */
export const HTTP_LISTEN_BACKLOG = 4096;

export interface StartOptions {
  service: string;
  port: number;
  /** Bind address; default {@link bindHost} of the service's config (loopback unless configured). */
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
  // the input gate runs before every route (and so before auth); it replaces Express's body parsers
  const limits = bodyLimitsOf(module);
  const server = express();
  server.use(inputGate(() => limits));
  const app = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(server), {
    logger: new NestLoggerAdapter(log),
    abortOnError: false,
    bodyParser: false,
  });
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
  const http = app.getHttpServer() as Server;
  http.headersTimeout = HTTP_TIMEOUTS.headersTimeoutMs;
  http.requestTimeout = HTTP_TIMEOUTS.requestTimeoutMs;
  http.keepAliveTimeout = HTTP_TIMEOUTS.keepAliveTimeoutMs;
  const host = opts.host ?? bindHost(opts.service, app.get<BaseEnv>(CONFIG, { strict: false }));
  // Nest passes the arguments through to http.Server#listen(port, host, backlog)
  await (app as unknown as { listen(port: number, host: string, backlog: number): Promise<unknown> }).listen(
    opts.port,
    host,
    HTTP_LISTEN_BACKLOG,
  );
  log.info('listening', { host, port: (http.address() as { port?: number } | null)?.port ?? opts.port });
  return app;
}

/** The {@link BODY_LIMITS} a service's root module provides (plain data, read before Nest starts). */
function bodyLimitsOf(module: Type | DynamicModule): readonly BodyLimit[] {
  const providers = 'module' in module ? (module.providers ?? []) : [];
  for (const p of providers) {
    if (typeof p === 'object' && 'provide' in p && p.provide === BODY_LIMITS && 'useValue' in p)
      return p.useValue as readonly BodyLimit[];
  }
  return [];
}

/**
 * Where a service listens: `<SERVICE>_HOST`, else `WARDEN_HOST`, else loopback. Nothing is reachable
 * from other machines unless a deployment says so (docker-compose sets `WARDEN_HOST=0.0.0.0`).
 * @example bindHost('policy', { WARDEN_HOST: '0.0.0.0', POLICY_HOST: '10.0.0.5' }) // '10.0.0.5'
 */
export function bindHost(service: string, config: Partial<BaseEnv> | undefined): string {
  const own = (config as Record<string, unknown> | undefined)?.[`${service.toUpperCase()}_HOST`];
  return typeof own === 'string' && own ? own : (config?.WARDEN_HOST ?? '127.0.0.1');
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
