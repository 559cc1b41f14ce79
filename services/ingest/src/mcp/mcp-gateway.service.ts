import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import {
  CallToolRequestSchema,
  CancelledNotificationSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  isInitializeRequest,
  type CallToolRequest,
  type RequestId,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CreateTaskResult } from '@modelcontextprotocol/sdk/experimental/tasks/types.js';
import { toolArgsSchema, type TaskSubmission } from '@warden/contracts';
import { newId } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER, type RawBodyRequest } from '@warden/runtime';
import type { Principal } from '@warden/identity';
import type { IngestConfig } from '../config';
import { mcpSource, runIdFor } from '../submission/domain/submission';
import { HttpIntakeService } from '../submission/http/http-intake.service';
import { AWAIT_RUN_LISTING, AWAIT_RUN_TOOL, AwaitRunArgs, argumentErrors, workerToolsFor } from './domain/tool-catalog';
import {
  approvalWaitText,
  pendingResult,
  refusedResult,
  terminalResult,
  type ApprovalHints,
  type RunView,
  type ToolCallResult,
} from './domain/run-view';
import { McpSessionRepository, type McpSession } from './projections/mcp-session.repository';
import { PgTaskStore, type WardenTaskContext } from './mcp-task-store';
import { RunCanceller } from './run-canceller';
import { RunWatcher, type Expectation } from './run-watcher';
import { UPSTREAM_CATALOG, type UpstreamCatalog } from './domain/upstream-catalog';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** While a call waits for people, a progress notification at least this often (clients reset timeouts on them). */
const HEARTBEAT_MS = 15_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** MCP tasks arrived with this protocol version (spec 2025-11-25, "tasks" utility). */
const TASKS_SINCE = '2025-11-25';

/** Whether a session's protocol version has MCP tasks (versions are dates: they sort as strings). */
export function sessionHasTasks(protocolVersion: string): boolean {
  return protocolVersion >= TASKS_SINCE;
}

/** What a tools/call comes to before anyone waits: a run to follow, or a result that ran nothing. */
type Proposal = { kind: 'run'; runId: string; expectation?: Expectation } | { kind: 'refused'; result: ToolCallResult };

const INSTRUCTIONS =
  'Warden judges every tool call before it runs: allowed calls run in a sandbox and return their output; ' +
  'denied calls return an error that says why (do not repeat them unchanged); some calls wait for a human ' +
  'approval. If a call answers that it is still waiting, call warden.await_run with its run_id.';

/**
 * `idempotency_key` of a tools/call: (MCP session, JSON-RPC request id). A retried request derives
 * the same key, so the submission pipeline answers with the first run (never a second one).
 * @example callKey('7c…', 5) // 'mcp:7c…:5'
 */
export function callKey(sessionId: string, requestId: RequestId): string {
  const id = JSON.stringify(requestId);
  const key = `mcp:${sessionId}:${id}`;
  return key.length <= 200 ? key : `mcp:${sessionId}:sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/** A JSON-RPC error answer outside the SDK transport (session refused before one is built). */
function jsonRpcError(res: Response, status: number, code: number, message: string): void {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/**
 * The MCP gateway (contract §7): MCP Streamable HTTP on the official SDK, stateless per request. Each
 * HTTP request gets its own SDK `Server` and transport; what outlives a request lives elsewhere — the
 * session (agent, protocol version, client capabilities) in `ingest.mcp_sessions`, each call's run in
 * `ingest.submissions` (keyed by session + request id), the run itself on the bus. So any replica
 * serves any request of a session, and a restart loses nothing: the client asks again and gets the
 * same run.
 */
@Injectable()
export class McpGateway implements OnModuleDestroy {
  private readonly log: Logger;
  private readonly hints: ApprovalHints;
  /** Ends every wait at shutdown: a waiting call then answers "still waiting" with its run id. */
  private readonly shutdown = new AbortController();
  private readonly live = new Set<{ transport: StreamableHTTPServerTransport; server: Server }>();
  private readonly calls = new Set<Promise<unknown>>();
  /**
   * One JSON Schema validator for every per-request SDK server: by default each `Server` builds its own
   * Ajv instance (~5 % of ingest's CPU under MCP load, measured), for elicitation, which the gateway
   * never sends.
   */
  private readonly validator = new AjvJsonSchemaValidator();

  constructor(
    @Inject(HttpIntakeService) private readonly intake: HttpIntakeService,
    @Inject(McpSessionRepository) private readonly sessions: McpSessionRepository,
    @Inject(RunWatcher) private readonly watcher: RunWatcher,
    @Inject(RunCanceller) private readonly canceller: RunCanceller,
    @Inject(UPSTREAM_CATALOG) private readonly upstream: UpstreamCatalog,
    @Inject(CONFIG) private readonly config: IngestConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('mcp');
    this.hints = { dashboardUrl: config.WARDEN_DASHBOARD_URL };
  }

  /** Serves one HTTP request of `/mcp` for an authenticated caller speaking as `agent`. */
  async handle(
    req: Request & RawBodyRequest,
    res: Response,
    principal: Principal,
    agent: { id: string; role: string },
  ): Promise<void> {
    const body = req.body;
    const messages: unknown[] = Array.isArray(body) ? body : body !== undefined ? [body] : [];
    const init = req.method === 'POST' ? messages.find((m) => isInitializeRequest(m)) : undefined;
    let session: McpSession;
    if (init && isInitializeRequest(init)) {
      const requested = init.params.protocolVersion;
      session = {
        sessionId: newId(),
        keyId: principal.id,
        agent,
        protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
        clientInfo: init.params.clientInfo,
        clientCapabilities: init.params.capabilities,
        endedAt: null,
      };
      await this.sessions.create(session);
      // merged by Node with the headers the SDK transport writes
      res.setHeader('mcp-session-id', session.sessionId);
    } else {
      const header = req.headers['mcp-session-id'];
      const id = typeof header === 'string' ? header : undefined;
      if (!id) return jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
      const found = UUID.test(id) ? await this.sessions.get(id) : undefined;
      // another agent's session is not found either (nothing to learn about it)
      if (!found || found.endedAt || found.agent.id !== agent.id || found.agent.role !== agent.role)
        return jsonRpcError(res, 404, -32001, 'Session not found');
      session = found;
      if (req.method === 'DELETE') {
        await this.sessions.end(session.sessionId);
        res.status(200).end();
        return;
      }
    }

    const server = this.serverFor(session, principal, req);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    const entry = { transport, server };
    this.live.add(entry);
    res.on('close', () => {
      this.live.delete(entry);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  /** An SDK server for one HTTP request of `session`. */
  private serverFor(session: McpSession, principal: Principal, req: Request): Server {
    const tasks = sessionHasTasks(session.protocolVersion);
    const taskStore = tasks
      ? new PgTaskStore(session, {
          repo: this.sessions,
          watcher: this.watcher,
          cancel: (runId) => this.canceller.cancelIfNotStarted(runId),
          hints: this.hints,
          log: this.log,
        })
      : undefined;
    const server = new Server(
      { name: 'warden', version: '0.1.0' },
      {
        capabilities: {
          tools: { listChanged: false },
          // tasks/get|result|list|cancel are the SDK's handlers over the Postgres task store
          ...(tasks ? { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } } : {}),
        },
        instructions: INSTRUCTIONS,
        jsonSchemaValidator: this.validator,
        ...(taskStore ? { taskStore } : {}),
      },
    );
    server.onerror = (err) => this.log.debug('mcp transport error', { error: err });
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      const proposing = [...workerToolsFor(session.agent.role), ...(await this.upstream.toolsFor(session.agent.role))];
      return {
        tools: [
          // every proposal may run as a task (it may wait for people); await_run is itself a wait
          ...(tasks ? proposing.map((t) => ({ ...t, execution: { taskSupport: 'optional' as const } })) : proposing),
          AWAIT_RUN_LISTING,
        ],
      };
    });
    const traceparent = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined;
    server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
      this.tracked<ToolCallResult | CreateTaskResult>(
        taskStore && request.params.task
          ? this.taskCall(session, principal, request.params, extra, traceparent, taskStore)
          : this.call(session, principal, request.params, extra, traceparent),
      ),
    );
    // replaces the SDK's own handler: the call it names may be waiting on another replica
    server.setNotificationHandler(CancelledNotificationSchema, (n) =>
      n.params.requestId === undefined ? Promise.resolve() : this.cancelled(session, n.params.requestId),
    );
    return server;
  }

  private tracked<T>(p: Promise<T>): Promise<T> {
    this.calls.add(p);
    void p.finally(() => this.calls.delete(p)).catch(() => undefined);
    return p;
  }

  private async call(
    session: McpSession,
    principal: Principal,
    params: CallToolRequest['params'],
    extra: Extra,
    traceparent: string | undefined,
  ): Promise<ToolCallResult> {
    const progressToken = params._meta?.progressToken;
    if (params.name === AWAIT_RUN_TOOL) {
      const owned = await this.ownedRun(session, params.arguments ?? {});
      return owned.kind === 'run' ? this.waitFor(owned.runId, extra, progressToken) : owned.result;
    }
    const p = await this.propose(session, principal, params, extra, traceparent);
    return p.kind === 'run' ? this.waitFor(p.runId, extra, progressToken, p.expectation) : p.result;
  }

  /**
   * A task-augmented tools/call (MCP tasks): proposes as {@link call} does, then answers at once with a
   * task whose status follows the run (`working`, `input_required` while people decide, then
   * `completed`/`failed`/`cancelled`). A call refused before anything was proposed is a task created
   * `failed`, its `isError` result the task's result. A retried request id gets the same task.
   */
  private async taskCall(
    session: McpSession,
    principal: Principal,
    params: CallToolRequest['params'],
    extra: Extra,
    traceparent: string | undefined,
    store: PgTaskStore,
  ): Promise<CreateTaskResult> {
    const p =
      params.name === AWAIT_RUN_TOOL
        ? await this.ownedRun(session, params.arguments ?? {})
        : await this.propose(session, principal, params, extra, traceparent);
    // nobody waits here: the task's readers replay the run when asked
    if (p.kind === 'run') p.expectation?.cancel();
    const context: WardenTaskContext = {
      requestKey: callKey(session.sessionId, extra.requestId),
      runId: p.kind === 'run' ? p.runId : null,
      ...(p.kind === 'refused' ? { refused: p.result } : {}),
    };
    const task = await store.createTask(
      { ...(params.task?.ttl !== undefined ? { ttl: params.task.ttl } : {}), context: { ...context } },
      extra.requestId,
      { method: 'tools/call', params },
    );
    return { task, _meta: { 'warden/run': { run_id: context.runId } } };
  }

  /** Validates and submits a proposal; the run it made (or found, for a retried request), or why not. */
  private async propose(
    session: McpSession,
    principal: Principal,
    params: CallToolRequest['params'],
    extra: Extra,
    traceparent: string | undefined,
  ): Promise<Proposal> {
    const { name } = params;
    const args = params.arguments ?? {};
    const refused = (result: ToolCallResult): Proposal => ({ kind: 'refused', result });

    const role = session.agent.role;
    const schema = toolArgsSchema(name);
    if (schema) {
      const errors = argumentErrors(schema, args);
      if (errors.length)
        return refused(
          refusedResult(
            `Invalid arguments for ${name}; nothing was proposed or run. Fix these fields and call again:`,
            errors,
          ),
        );
    } else {
      const check = await this.upstream.check(name, role);
      if (!check.ok) return refused(refusedResult(`${check.code}: ${check.message}. Nothing was proposed or run.`));
    }

    const key = callKey(session.sessionId, extra.requestId);
    const submission = {
      agent: session.agent,
      session_id: session.sessionId,
      action: { tool: name, args },
      idempotency_key: key,
      metadata: { mcp: { request_id: extra.requestId } },
    };
    const source = mcpSource({
      requestId: newId(),
      submission,
      traceparent,
      submittedBy: { kind: 'api_key', id: principal.id, ...(principal.owner ? { owner: principal.owner } : {}) },
    });
    // follow the run before it exists: a new run's every event reaches this process's one follower
    const runId = runIdFor(submission as TaskSubmission, source);
    const expectation = await this.watcher.expect(runId);
    // never throws (failures are `unavailable`)
    const result = await this.intake.submit('mcp', new TextEncoder().encode(JSON.stringify(submission)), () => source);
    if (!(result.kind === 'accepted' && result.runId === runId)) expectation.cancel();
    switch (result.kind) {
      case 'accepted':
        return { kind: 'run', runId: result.runId, ...(result.runId === runId ? { expectation } : {}) };
      case 'duplicate':
        // an earlier request of this id made the run: it is replayed from its first event
        return { kind: 'run', runId: result.runId };
      case 'refused':
        return refused(refusedResult(`Warden refused this proposal (${result.code}); nothing was run:`, result.errors));
      case 'unavailable':
        // the cause is logged, not told: it may name Warden's internals
        this.log.warn('mcp call not recorded: submission pipeline unavailable', { error: result.error });
        return refused(
          refusedResult(
            'Warden could not record this call right now; nothing was run. Call again with the same request ' +
              '(it will never run twice).',
          ),
        );
    }
  }

  /** `warden.await_run {run_id}`: a run of the caller's own agent (anyone else's is not found). */
  private async ownedRun(session: McpSession, args: Record<string, unknown>): Promise<Proposal> {
    const errors = argumentErrors(AwaitRunArgs, args);
    if (errors.length)
      return { kind: 'refused', result: refusedResult(`Invalid arguments for ${AWAIT_RUN_TOOL}:`, errors) };
    const runId = (args.run_id as string).toLowerCase();
    const owner = await this.sessions.agentOf(runId);
    if (owner !== session.agent.id)
      return { kind: 'refused', result: refusedResult(`There is no run ${runId} of agent ${session.agent.id}.`) };
    return { kind: 'run', runId };
  }

  /** Waits for the run's outcome (or MCP_APPROVAL_WAIT_SECONDS), telling the client while it waits. */
  private async waitFor(
    runId: string,
    extra: Extra,
    progressToken: string | number | undefined,
    expectation?: Expectation,
  ): Promise<ToolCallResult> {
    let progress = 0;
    let said = '';
    let latest: RunView | undefined;
    const tell = (message: string) => {
      if (progressToken === undefined) return;
      progress += 1;
      extra
        .sendNotification({ method: 'notifications/progress', params: { progressToken, progress, message } })
        .catch(() => undefined);
    };
    const onChange = (view: RunView) => {
      latest = view;
      const message = progressText(view, this.hints);
      if (message === said) return;
      said = message;
      tell(message);
    };
    const heartbeat = setInterval(() => {
      if (latest?.status === 'awaiting_approval') tell(progressText(latest, this.hints));
    }, HEARTBEAT_MS);
    try {
      const opts = {
        deadline: Date.now() + this.config.MCP_APPROVAL_WAIT_SECONDS * 1000,
        signal: AbortSignal.any([extra.signal, this.shutdown.signal]),
        onChange,
      };
      const { view, end } = await (expectation ? expectation.wait(opts) : this.watcher.wait(runId, opts));
      return end === 'terminal' ? terminalResult(view) : pendingResult(view, this.hints, AWAIT_RUN_TOOL);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** `notifications/cancelled`: cancels the named call's run if it has not started. */
  private async cancelled(session: McpSession, requestId: RequestId): Promise<void> {
    const runId = await this.sessions.runFor(session.agent.id, callKey(session.sessionId, requestId));
    if (!runId) return;
    const outcome = await this.canceller.cancelIfNotStarted(runId);
    this.log.info('mcp call cancelled by the client', { run_id: runId, outcome });
  }

  /** Shutdown: waiting calls answer "still waiting" (with their run id), then every stream closes. */
  async onModuleDestroy(): Promise<void> {
    this.shutdown.abort();
    await Promise.race([Promise.allSettled([...this.calls]), new Promise((r) => setTimeout(r, 2000))]);
    // let the answers leave before the streams close
    await new Promise((r) => setTimeout(r, 50));
    for (const { server } of [...this.live]) await server.close().catch(() => undefined);
  }
}

/** What a progress notification says about a run. */
export function progressText(view: RunView, hints: ApprovalHints): string {
  switch (view.status) {
    case 'awaiting_approval':
      return approvalWaitText(view, hints);
    case 'none':
    case 'received':
      return `Run ${view.runId} received: Warden policy is judging it.`;
    case 'queued':
      return `Run ${view.runId} allowed and queued for a worker.`;
    case 'running':
      return `Run ${view.runId} is running.`;
    default:
      return `Run ${view.runId} ${view.status}.`;
  }
}
