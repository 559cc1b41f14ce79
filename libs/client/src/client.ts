import { randomUUID } from 'node:crypto';
import type { Agent, ExecutionOutcome, TaskSubmission } from '@warden/contracts';
import { MAX_OUTPUT_BYTES } from '@warden/contracts';
import { canonicalJson, sha256Canonical } from '@warden/kernel';
import { BusTransport, type BusTransportOptions } from './bus';
import { WardenApiError, WardenError, runEndedError } from './errors';
import { requestJson, type HttpOptions, type RetryPolicy } from './http';
import { Run, type Grant, type RunOutcome } from './run';
import { followRun } from './stream';
import type { Proposal } from './types';

/**
 * How to reach Warden.
 * @example { baseUrl: 'http://127.0.0.1:7101', orchestratorUrl: 'http://127.0.0.1:7103', apiKey: process.env.WARDEN_API_KEY!, agent: { id: 'agent-7', role: 'dev' } }
 */
export interface WardenClientOptions {
  /** HTTP (the default), or see {@link WardenBusClientOptions}. */
  transport?: 'http';
  /** Ingest (`POST /v1/tasks`, `POST /v1/runs/:id/execution`), e.g. `http://127.0.0.1:7101`. */
  baseUrl: string;
  /**
   * The orchestrator, which serves run streams (`GET /v1/runs/:id/stream`); default `baseUrl` (a gateway
   * that routes `/v1/runs/*\/stream` to the orchestrator and the rest to ingest).
   */
  orchestratorUrl?: string;
  /** An API key bound to `agent` (`POST /v1/keys {agent}`): run streams are served only to bound keys. */
  apiKey: string;
  /** The agent this client speaks for: every proposal names it. */
  agent: Agent;
  /** Default session for proposals that name none. */
  session?: string;
  retry?: RetryPolicy;
  /** Per HTTP attempt, in ms (default 30 000). */
  timeoutMs?: number;
  /** A fetch to use instead of the global one (tests, proxies). */
  fetch?: typeof fetch;
}

/**
 * How to reach Warden over NATS (`transport: 'bus'`): proposals are published on
 * `warden.ingest.tasks.<role>` and runs are followed on the events stream, every event verified with the
 * producers' public keys (`producerKeys`, the `WARDEN_PRODUCER_KEYS` value). `baseUrl` and `apiKey` are
 * optional: only {@link WardenClient.report} (bring your own executor) needs them, since reports go over HTTP.
 * @example { transport: 'bus', servers: 'nats://127.0.0.1:4222', user: 'agents-dev', pass, producerKeys: process.env.WARDEN_PRODUCER_KEYS!, agent: { id: 'agent-7', role: 'dev' } }
 */
export type WardenBusClientOptions = WardenBusClientBase &
  (
    | ({ transport: 'bus' } & BusTransportOptions)
    | { /** A transport made (and shared) by you. */ transport: BusTransport }
  );

/**
 * What a bus client takes besides its transport.
 * @example { agent: { id: 'agent-7', role: 'dev' }, baseUrl: 'http://127.0.0.1:7101', apiKey } // HTTP only for report()
 */
export interface WardenBusClientBase {
  agent: Agent;
  session?: string;
  /** Ingest, for {@link WardenClient.report} only. */
  baseUrl?: string;
  /** An API key bound to `agent`, for {@link WardenClient.report} only. */
  apiKey?: string;
  retry?: RetryPolicy;
  /** Per HTTP attempt (report), in ms; over the bus it is also the JetStream request timeout. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * What a client executor reports: the tool's output, or the error it failed with.
 * @example await client.report(grant, { error: { code: 'TOOL.FAILED', message: 'disk full' } })
 */
export interface ExecutionReport {
  /** JSON-serialisable output (kept up to 64 KiB; larger is reported by hash only, marked truncated). */
  output?: unknown;
  error?: { code: string; message: string };
  /** Report only the output's hash, never the output (default false). */
  hashOnly?: boolean;
}

/**
 * What {@link WardenClient.guard} returns: call it like the wrapped function.
 * @example const write: GuardedFn<{ path: string }, void> = client.guard('notes.write', saveNote)
 */
export type GuardedFn<A extends Record<string, unknown>, R> = (args: A, opts?: GuardCallOptions) => Promise<R>;

/**
 * Per call of a guarded function.
 * @example await guardedWrite({ path: 'a.md' }, { session: 'sess-9', intent: 'save the draft' })
 */
export interface GuardCallOptions {
  session?: string;
  intent?: string;
  usage?: Proposal['usage'];
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/**
 * The typed Warden client: propose actions, follow their runs without polling, and gate functions that
 * run in your own process (bring your own executor).
 * @example
 * const client = new WardenClient({ baseUrl: 'http://127.0.0.1:7101', orchestratorUrl: 'http://127.0.0.1:7103', apiKey, agent: { id: 'agent-7', role: 'dev' } });
 * const run = await client.propose({ tool: 'fs.write_file', args: { path: 'notes/a.md', content: 'hi' } });
 * const { status, result } = await run.outcome();
 */
export class WardenClient {
  private readonly http: HttpOptions;
  private readonly ingestUrl: string;
  private readonly orchestratorUrl: string;
  /** Set for `transport: 'bus'`: proposals and run streams go over NATS. */
  readonly bus?: BusTransport;

  constructor(private readonly opts: WardenClientOptions | WardenBusClientOptions) {
    if (opts.transport === 'bus') this.bus = new BusTransport(opts);
    else if (opts.transport instanceof BusTransport) this.bus = opts.transport;
    const baseUrl = opts.baseUrl ?? '';
    this.ingestUrl = baseUrl.replace(/\/+$/, '');
    this.orchestratorUrl = ('orchestratorUrl' in opts && opts.orchestratorUrl ? opts.orchestratorUrl : baseUrl).replace(
      /\/+$/,
      '',
    );
    this.http = {
      apiKey: opts.apiKey ?? '',
      fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
      retry: { attempts: 4, baseDelayMs: 200, maxDelayMs: 5000, ...opts.retry },
      timeoutMs: opts.timeoutMs ?? 30_000,
      userAgent: 'warden-client/0.1',
    };
  }

  /**
   * Proposes one action (`POST /v1/tasks`) and returns its {@link Run}. Retries network errors, `5xx` and
   * `429` with the same idempotency key (generated when not given), so a retry never creates a second
   * run. Throws {@link WardenValidationError} (field paths in `errors`), {@link WardenAuthError}, or
   * {@link WardenApiError} for other refusals.
   * @example const run = await client.propose({ tool: 'git.status', session: 'sess-1', intent: 'check the tree' })
   */
  async propose(p: Proposal): Promise<Run> {
    const submission: TaskSubmission = {
      ...(p.runId ? { run_id: p.runId } : {}),
      idempotency_key: p.idempotencyKey ?? randomUUID(),
      agent: this.opts.agent,
      ...((p.session ?? this.opts.session) ? { session_id: p.session ?? this.opts.session } : {}),
      action: { tool: p.tool, args: p.args ?? {} },
      ...(p.intent !== undefined ? { intent: p.intent } : {}),
      ...(p.usage ? { usage: p.usage } : {}),
      ...(p.metadata ? { metadata: p.metadata } : {}),
      ...(p.executor ? { executor: p.executor } : {}),
    };
    if (this.bus) {
      const published = await this.bus.propose(submission);
      return this.run(published.runId, published.duplicate);
    }
    const { body, attempt } = await requestJson<{ run_id: string; duplicate: boolean }>(
      this.http,
      'POST',
      `${this.ingestUrl}/v1/tasks`,
      submission,
    );
    // a duplicate on a retry of this call is the run our own lost attempt created: it is this call's run
    return this.run(body.run_id, body.duplicate && attempt === 1);
  }

  /**
   * A handle on an existing run of this client's agent (e.g. after a restart).
   * @example const o = await client.run(runId).outcome()
   */
  run(runId: string, duplicate = false): Run {
    const bus = this.bus;
    if (bus) return new Run(runId, duplicate, (signal) => bus.follow(runId, signal));
    const url = `${this.orchestratorUrl}/v1/runs/${encodeURIComponent(runId)}/stream`;
    return new Run(runId, duplicate, (signal) => followRun(this.http, url, signal));
  }

  /**
   * Closes the bus connection (`transport: 'bus'`); nothing to do over HTTP.
   * @example await client.close()
   */
  async close(): Promise<void> {
    await this.bus?.close();
  }

  /**
   * Reports what executing a granted action produced (`POST /v1/runs/:id/execution`); the run then ends
   * `succeeded` (no error) or `failed`. A grant is single-use: a second report is refused
   * (`409 GRANT.ALREADY_USED`), except that a retry of this very call after a lost answer is taken as done.
   * @example await client.report(grant, { output: { ok: true } })
   */
  async report(g: Grant, r: ExecutionReport): Promise<void> {
    if (!this.ingestUrl || !this.opts.apiKey)
      throw new WardenError('CLIENT.NO_HTTP', 'reporting an execution goes over HTTP: give baseUrl and apiKey');
    const outcome = executionOutcome(r);
    const url = `${this.ingestUrl}/v1/runs/${encodeURIComponent(g.grant.run_id)}/execution`;
    const body = { grant: g.grant, signature: g.signature, action_hash: g.grant.action_hash, outcome };
    try {
      await requestJson(this.http, 'POST', url, body);
    } catch (err) {
      // our own earlier attempt got through and its answer was lost: the report is in
      if (err instanceof WardenApiError && err.code === 'GRANT.ALREADY_USED' && this.reported.has(g.grant.grant_id))
        return;
      throw err;
    } finally {
      this.reported.add(g.grant.grant_id);
    }
  }
  private readonly reported = new Set<string>();

  /**
   * Wraps a function that runs a tool in your own process so that it runs only when Warden allows it:
   * each call proposes `{tool, args}` with `executor: 'client'`, waits for the decision (and the
   * approvers, when it escalates), runs `fn` once on the signed grant, reports the output (or the error)
   * and returns `fn`'s result (or rethrows its error). A denial, rejection or expiry throws
   * {@link RunDeniedError} / {@link ApprovalRefusedError} (`reasons` fit to show a user or a model), and
   * `fn` never runs. A call repeated with the same `idempotencyKey` (e.g. after a crash) never runs `fn`
   * again: it returns the output the first call reported, or throws how that run ended (a first call that
   * crashed before reporting ends `failed` with `outcome_unknown` at the grant's deadline).
   * @example
   * const click = client.guard('browser.click', async (args: { selector: string }) => page.click(args.selector));
   * await click({ selector: '#buy' }, { intent: 'buy the book' });
   */
  guard<A extends Record<string, unknown>, R>(tool: string, fn: (args: A) => Promise<R> | R): GuardedFn<A, R> {
    return async (args: A, call: GuardCallOptions = {}): Promise<R> => {
      const run = await this.propose({
        tool,
        args,
        executor: 'client',
        ...(call.session ? { session: call.session } : {}),
        ...(call.intent !== undefined ? { intent: call.intent } : {}),
        ...(call.usage ? { usage: call.usage } : {}),
        ...(call.idempotencyKey ? { idempotencyKey: call.idempotencyKey } : {}),
      });
      // a repeated call (same idempotency key) is the earlier call's run: never execute it a second time,
      // answer with what it did (its reported output, or the typed error of how it ended)
      if (run.duplicate) {
        const earlier = await run.outcome(call.signal ? { signal: call.signal } : {});
        if (earlier.status !== 'succeeded') throw runEndedError(earlier.run, earlier.denial);
        return earlier.result?.output as R;
      }
      const grant = await run.grant(call.signal ? { signal: call.signal } : {});
      let value: R;
      try {
        value = await fn(grant.grant.action.args as A);
      } catch (err) {
        await this.report(grant, { error: { code: errorCode(err), message: String((err as Error)?.message ?? err) } });
        throw err;
      }
      await this.report(grant, { output: value });
      const outcome: RunOutcome = await run.outcome(call.signal ? { signal: call.signal } : {});
      if (outcome.status !== 'succeeded') throw runEndedError(outcome.run, outcome.denial);
      return value;
    };
  }
}

/** The outcome as reported: output (unless too large or hash-only), its hash, the error. */
function executionOutcome(r: ExecutionReport): ExecutionOutcome {
  const output = toJson(r.output);
  const text = output === undefined ? 'null' : canonicalJson(output);
  const keep = !r.hashOnly && output !== undefined && Buffer.byteLength(text) <= MAX_OUTPUT_BYTES;
  return {
    ...(keep ? { output } : {}),
    output_hash: sha256Canonical(output ?? null),
    ...(!keep && output !== undefined && !r.hashOnly ? { truncated: true } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
}

/** A JSON copy of a value (what JSON.stringify keeps), or undefined for none. */
function toJson(v: unknown): unknown {
  if (v === undefined) return undefined;
  const text = JSON.stringify(v);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.length > 0 && code.length <= 200 ? code : 'TOOL.FAILED';
}
