import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/nats-core';
import type { Response } from 'express';
import type { Subjects } from '@warden/contracts';
import type { BusConnection } from '@warden/bus';
import { Logger } from '@warden/observability';
import { BUS, IdentityDirectory, LOGGER, SUBJECTS } from '@warden/runtime';
import { dashboardMetrics } from './dashboard.metrics';

/** A client whose unsent SSE data exceeds this is dropped (it reconnects and resynchronizes). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

interface Client {
  res: Response;
  operatorId: string;
}

/**
 * Server-sent events for the dashboard, fed by a core NATS subscription on `warden.events.run.>`
 * that exists only while at least one browser listens. Each event is encoded once for all clients;
 * tool output is left out (the timeline fetches it). Clients of a revoked operator are closed at once.
 */
@Injectable()
export class LiveEvents implements OnApplicationShutdown {
  private readonly clients = new Set<Client>();
  private sub?: Subscription;
  private heartbeat?: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly unwatch: () => void;

  constructor(
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    directory: IdentityDirectory,
    @Inject(LOGGER) log: Logger,
  ) {
    this.log = log.child('sse');
    this.unwatch = directory.onChange((env) => {
      if (env.type !== 'operator_revoked') return;
      for (const c of this.clients) if (c.operatorId === env.data.operator_id) this.drop(c, 'operator revoked');
    });
  }

  /** Number of connected browsers. */
  get size(): number {
    return this.clients.size;
  }

  /** Turns `res` into an event stream until the browser goes away. */
  attach(res: Response, operatorId: string): void {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(`retry: 2000\nevent: hello\ndata: {"connected_at":"${new Date().toISOString()}"}\n\n`);
    const client: Client = { res, operatorId };
    this.clients.add(client);
    dashboardMetrics.sseClients.set(this.clients.size);
    res.on('close', () => this.drop(client));
    this.ensureSubscribed();
  }

  private ensureSubscribed(): void {
    if (this.sub) return;
    const sub = this.bus.nc.subscribe(this.subjects.runEvents);
    this.sub = sub;
    this.heartbeat = setInterval(() => this.broadcast(': ping\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
    void (async () => {
      for await (const m of sub) {
        let frame: string;
        try {
          frame = sseFrame(JSON.parse(m.string()) as Record<string, unknown>);
        } catch {
          continue; // not an envelope: nothing to show
        }
        this.broadcast(frame);
      }
    })().catch((err: unknown) => this.log.warn('live subscription ended', { error: err as Error }));
  }

  private broadcast(frame: string): void {
    for (const c of this.clients) {
      if (c.res.writableLength > MAX_BUFFERED_BYTES) {
        this.drop(c, 'slow client');
        continue;
      }
      c.res.write(frame);
    }
  }

  private drop(c: Client, why?: string): void {
    if (!this.clients.delete(c)) return;
    dashboardMetrics.sseClients.set(this.clients.size);
    if (why) this.log.info('closing event stream', { reason: why });
    if (!c.res.writableEnded) c.res.end();
    if (this.clients.size === 0) this.unsubscribe();
  }

  private unsubscribe(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  onApplicationShutdown(): void {
    this.unwatch();
    for (const c of [...this.clients]) this.drop(c);
    this.unsubscribe();
  }
}

/** One SSE frame for an envelope; a run result's `output` is left out (it may be large). */
export function sseFrame(env: Record<string, unknown>): string {
  const data = env.data as Record<string, unknown> | undefined;
  let slim = env;
  const result = data?.result as Record<string, unknown> | undefined;
  if (result && 'output' in result) {
    const { output: _output, ...rest } = result;
    slim = { ...env, data: { ...data, result: { ...rest, output_omitted: true } } };
  }
  const id = typeof env.id === 'string' ? `id: ${env.id}\n` : '';
  return `${id}event: run-event\ndata: ${JSON.stringify(slim)}\n\n`;
}
