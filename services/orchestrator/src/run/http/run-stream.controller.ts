import { Controller, Get, Inject, Param, Query, Req, Res, type OnModuleDestroy } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { isTerminal } from '@warden/contracts';
import { DomainError, isUuid } from '@warden/kernel';
import { Auth, DATA_SOURCE, type AuthedRequest } from '@warden/runtime';
import { bindingAdmits, type Principal } from '@warden/identity';
import { RunNotifier } from '../run-notifier';
import { RunStreamReader, type RunView } from '../projections/run.repository';

/** How long a stream waits for a run that does not exist yet (the POST that created it may be a moment ahead). */
const APPEAR_WAIT_MS = 15_000;
/** A stream ends after this long (the client reconnects with `Last-Event-ID`): no connection lives forever. */
const MAX_STREAM_MS = 5 * 60_000;
/** Readers wake at least this often, even without a notification. */
const FALLBACK_WAKE_MS = 1_000;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/**
 * `GET /v1/runs/:run_id/stream` — the run's timeline and status as Server-Sent Events, for integrators
 * (API key, scoped to the key's agent) and operators (viewer). Events:
 * - `event: event`, `id: <seq>`, `data: <envelope>` — each timeline event in log order (resume after
 *   `Last-Event-ID`, or `?after=<seq>`);
 * - `event: ignored`, `id: <seq>`, `data: {id, type, reason}` — an event the orchestrator recorded but
 *   did not act on (e.g. a forged decision);
 * - `event: run`, `data: <run view>` (as `GET /v1/runs/:id`, without `events`) — whenever the run changed;
 * - `event: end`, `data: <run view>` — the run is terminal; the server closes the stream.
 * No polling in the client: the server pushes as the runs projection commits (Postgres LISTEN/NOTIFY).
 */
@Controller('v1/runs')
export class RunStreamController implements OnModuleDestroy {
  private readonly reader: RunStreamReader;
  /** Every stream in progress: ended (and its loop stopped) when the service shuts down. */
  private readonly open = new Set<() => void>();

  constructor(
    @Inject(DATA_SOURCE) ds: DataSource,
    @Inject(RunNotifier) private readonly notifier: RunNotifier,
  ) {
    this.reader = new RunStreamReader(ds.manager);
  }

  onModuleDestroy(): void {
    for (const stop of [...this.open]) stop();
  }

  @Get(':runId/stream')
  @Auth({ apiKey: true, role: 'viewer' })
  async stream(
    @Param('runId') runId: string,
    @Query('after') after: string | undefined,
    @Req() req: Request & AuthedRequest,
    @Res() res: Response,
  ): Promise<void> {
    if (!isUuid(runId)) throw new DomainError('RUN.NOT_FOUND', 'no such run');
    const principal = req.principal!;
    if (principal.kind === 'api_key' && !principal.binding)
      throw new DomainError(
        'KEY.NOT_BOUND',
        'this API key is not bound to an agent; bind it (POST /v1/keys with agent)',
      );
    let closed = false;
    // a change noticed while reading is not lost: the next sleep returns at once
    let dirty = false;
    let wake: () => void = () => undefined;
    const stop = this.notifier.onChange(runId, () => {
      dirty = true;
      wake();
    });
    // the response's close is the client going away (the request's fires once its body is read)
    const close = () => {
      closed = true;
      wake();
    };
    res.on('close', close);
    this.open.add(close);
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        if (dirty || closed) return resolve();
        const t = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    try {
      let run = await this.reader.run(runId);
      const appearBy = Date.now() + APPEAR_WAIT_MS;
      while (!run && !closed && Date.now() < appearBy) {
        await sleep(Math.min(250, appearBy - Date.now()));
        dirty = false;
        run = await this.reader.run(runId);
      }
      // another agent's run is answered as if it did not exist
      if (!run || !visibleTo(principal, run)) throw new DomainError('RUN.NOT_FOUND', 'no such run');
      if (closed) return void res.end();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const resume = Number(req.headers['last-event-id'] ?? after ?? 0);
      let seq = Number.isSafeInteger(resume) && resume > 0 ? resume : 0;
      let sentRun = '';
      let beat = Date.now();
      const endBy = Date.now() + MAX_STREAM_MS;
      while (!closed && Date.now() < endBy) {
        dirty = false;
        // the view first, then the events: both commit together, so the events read include every one
        // the view reflects (the terminal event always comes before `end`)
        run = (await this.reader.run(runId)) ?? run;
        for (const e of await this.reader.eventsAfter(runId, seq)) {
          seq = e.seq;
          if (e.note) write(res, 'ignored', { id: e.envelope.id, type: e.envelope.type, reason: e.note }, seq);
          else write(res, 'event', e.envelope, seq);
        }
        const view = JSON.stringify(run);
        if (view !== sentRun) {
          sentRun = view;
          write(res, isTerminal(run.status) ? 'end' : 'run', run);
        }
        if (isTerminal(run.status)) break;
        if (Date.now() - beat > HEARTBEAT_MS) {
          res.write(': keep-alive\n\n');
          beat = Date.now();
        }
        await sleep(Math.min(FALLBACK_WAKE_MS, endBy - Date.now()));
      }
      res.end();
    } finally {
      stop();
      this.open.delete(close);
    }
  }
}

function visibleTo(p: Principal, run: RunView): boolean {
  return p.kind !== 'api_key' || bindingAdmits(p, run.agent) === 'ok';
}

function write(res: Response, event: string, data: unknown, id?: number): void {
  res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
