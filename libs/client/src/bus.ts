import { randomUUID } from 'node:crypto';
import {
  PRODUCERS,
  Subjects,
  isTerminal,
  nextStatus,
  type AnyEnvelope,
  type Envelope,
  type RunStatusOrNone,
  type TaskSubmission,
} from '@warden/contracts';
import { EventAuthenticity, Headers } from '@warden/bus';
import { deriveId, loadKeyring } from '@warden/kernel';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { DeliverPolicy, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { WardenNetworkError, WardenValidationError } from './errors';
import type { StreamMessage } from './stream';
import type { RunSnapshot } from './types';

/**
 * How to reach Warden over NATS instead of HTTP: the integrator's NATS user (publish rights on
 * `warden.ingest.tasks.<role>`, read rights on the events stream) and the producers' public keys that
 * every event read back must verify with.
 * @example { servers: 'nats://127.0.0.1:4222', user: 'agents-dev', pass: process.env.NATS_PASS, producerKeys: process.env.WARDEN_PRODUCER_KEYS! }
 */
export interface BusTransportOptions {
  /** NATS server URL(s), comma-separated or a list. */
  servers: string | string[];
  /** Subject prefix (default `warden`). */
  prefix?: string;
  user?: string;
  pass?: string;
  token?: string;
  /**
   * `WARDEN_PRODUCER_KEYS`: every producer's public key (`policy=<key>,orchestrator=<key>,…`). Only
   * public keys: an event not signed by the one producer its type allows is ignored.
   */
  producerKeys: string;
  /** JetStream request timeout, ms (default 5000). */
  timeoutMs?: number;
  /**
   * How runs are read back. `stream` (default): an ordered consumer on the events stream, from the run's
   * first event (needs the stream API on the events stream). `live`: core subscriptions on the run's
   * subjects, opened before the proposal is published and buffered, which is all `nats-prod.conf` grants
   * an integrator user; `client.run(id)` of an older run then sees only events from now on.
   */
  follow?: 'stream' | 'live';
  /** The inbox prefix the NATS user is confined to (nats-prod.conf: `_INBOX_integrator_<name>`). */
  inboxPrefix?: string;
}

/** One run followed live: its verified events so far (deduplicated by id) and who waits for more. */
class LiveRun {
  readonly events: AnyEnvelope[] = [];
  private readonly seen = new Set<string>();
  private wake: (() => void)[] = [];
  closed = false;
  constructor(private readonly subs: Subscription[]) {}
  push(e: AnyEnvelope): void {
    if (this.seen.has(e.id)) return;
    this.seen.add(e.id);
    this.events.push(e);
    this.notify();
  }
  /** Resolves when an event arrives or the run is closed (or `signal` aborts). */
  next(signal?: AbortSignal): Promise<void> {
    return new Promise((ok) => {
      this.wake.push(ok);
      signal?.addEventListener('abort', () => ok(), { once: true });
    });
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) s.unsubscribe();
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }
}

/** What one bus proposal became (a refusal is thrown). */
interface Published {
  runId: string;
  duplicate: boolean;
}

/**
 * The bus side of {@link WardenClient}: publishes submissions on the per-role ingest subject with a
 * JetStream message id = the run id derived from (agent, idempotency key), so the broker drops a retried copy, and
 * reads a run's events back from the events stream with an ordered consumer, verifying each one's
 * signature with the producers' public keys (forged events are skipped, never acted on).
 * @example const bus = new BusTransport({ servers: 'nats://127.0.0.1:4222', producerKeys }); await bus.close()
 */
export class BusTransport {
  private readonly subjects: Subjects;
  private readonly auth: EventAuthenticity;
  private conn?: Promise<{ nc: NatsConnection; js: JetStreamClient }>;
  /** Events refused as not their producer's, since this transport was made. */
  forgedSkipped = 0;
  private readonly live = new Map<string, LiveRun>();

  constructor(private readonly opts: BusTransportOptions) {
    this.subjects = new Subjects(opts.prefix ?? 'warden');
    // a keyring with public keys only: this process can verify but never sign as a producer
    this.auth = new EventAuthenticity(loadKeyring({ self: 'client', producerKeys: opts.producerKeys }, PRODUCERS));
  }

  private connection(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    this.conn ??= (async () => {
      const servers = Array.isArray(this.opts.servers) ? this.opts.servers : this.opts.servers.split(',');
      const nc = await connect({
        servers: servers.map((s) => s.trim()),
        name: 'warden-client',
        timeout: this.opts.timeoutMs ?? 5000,
        maxReconnectAttempts: -1,
        ...(this.opts.user !== undefined ? { user: this.opts.user } : {}),
        ...(this.opts.pass !== undefined ? { pass: this.opts.pass } : {}),
        ...(this.opts.token !== undefined ? { token: this.opts.token } : {}),
        ...(this.opts.inboxPrefix !== undefined ? { inboxPrefix: this.opts.inboxPrefix } : {}),
      });
      return { nc, js: jetstream(nc, { timeout: this.opts.timeoutMs ?? 5000 }) };
    })().catch((err: unknown) => {
      this.conn = undefined;
      throw new WardenNetworkError(`NATS unreachable: ${(err as Error).message}`, { cause: err });
    });
    return this.conn;
  }

  /**
   * Publishes `submission` on `warden.ingest.tasks.<role>` and waits until ingest took it in
   * (`task_received`) or refused it (`task_rejected`, thrown as {@link WardenValidationError} with the
   * field paths). The run id is derived from (agent, idempotency key) unless given, and the message id
   * too: the same key again is the same run, never a second one.
   */
  async propose(s: TaskSubmission, signal?: AbortSignal): Promise<Published> {
    const key = s.idempotency_key ?? randomUUID();
    const runId = s.run_id ?? deriveId('client-run', s.agent.id, key);
    // the message id is the run id: the broker drops a retried copy, and ingest names a refusal of this
    // message by it (`warden.events.rejected.<msg id>.task_rejected`), so one filter follows both answers
    const msgId = runId;
    const { js } = await this.connection();
    // live: listen before publishing, so no answer can pass unseen
    const live = this.opts.follow === 'live' ? await this.liveRun(runId, true) : undefined;
    const h = natsHeaders();
    h.set(Headers.msgId, msgId);
    const body = new TextEncoder().encode(JSON.stringify({ ...s, idempotency_key: key, run_id: runId }));
    let ack: { duplicate: boolean };
    try {
      ack = await js.publish(this.subjects.ingestTasksOf(s.agent.role), body, { msgID: msgId, headers: h });
    } catch (err) {
      live?.close();
      throw new WardenNetworkError(`publishing the submission failed: ${(err as Error).message}`, { cause: err });
    }
    // live, a copy the broker dropped gets no answer of its own: the first publish got it (and the run's
    // later events are still followed on the subscriptions already open)
    if (live && ack.duplicate) return { runId, duplicate: true };
    const answers = live
      ? this.replay(live, signal)
      : this.verified(`${this.subjects.prefix}.events.*.${runId}.*`, signal);
    for await (const e of answers) {
      if (e.type === 'task_rejected') {
        if (live) this.dropLive(runId);
        const { errors } = (e as Envelope<'task_rejected'>).data;
        const detail = errors.map((x) => `${x.path || '(root)'}: ${x.message}`).join('; ');
        throw new WardenValidationError(400, 'VALIDATION.FAILED', detail, errors);
      }
      if (e.type === 'task_received') return { runId, duplicate: ack.duplicate };
    }
    throw new Error(`stopped waiting for submission ${msgId}`);
  }

  /**
   * The run's events, verified, as the messages of a run stream: `event` per event, `run` on each status
   * change and `end` with the terminal snapshot (a snapshot folded from the events themselves).
   */
  async *follow(runId: string, signal?: AbortSignal): AsyncGenerator<StreamMessage> {
    let snap: RunSnapshot | undefined;
    let status: RunStatusOrNone = 'none';
    const events =
      this.opts.follow === 'live'
        ? this.replay(await this.liveRun(runId, false), signal)
        : this.verified(`${this.subjects.prefix}.events.run.${runId}.>`, signal);
    for await (const e of events) {
      yield { event: 'event', id: e.id, data: e };
      snap = fold(snap, e);
      const next = nextStatus(status, e.type);
      if (next === status || next === 'none' || !snap) continue;
      status = next;
      snap = { ...snap, status: next, updated_at: e.occurred_at };
      if (isTerminal(next)) {
        this.live.get(runId)?.close();
        yield { event: 'end', data: snap };
        return;
      }
      yield { event: 'run', data: snap };
    }
  }

  /** The live follower of `runId` (opened on first use: core subscriptions on its subjects). */
  private async liveRun(runId: string, withRejection: boolean): Promise<LiveRun> {
    const known = this.live.get(runId);
    if (known) return known;
    const { nc } = await this.connection();
    const subjects = [`${this.subjects.prefix}.events.run.${runId}.>`];
    if (withRejection) subjects.push(this.subjects.rejected(runId));
    const subs: Subscription[] = [];
    const run = new LiveRun(subs);
    for (const subject of subjects)
      subs.push(
        nc.subscribe(subject, {
          callback: (err, m) => {
            if (err) return;
            let raw: unknown;
            try {
              raw = m.json<unknown>();
              this.auth.check(raw);
            } catch {
              this.forgedSkipped++;
              return;
            }
            run.push(raw as AnyEnvelope);
          },
        }),
      );
    // the server has the subscriptions before anything is published after this
    await nc.flush();
    this.live.set(runId, run);
    return run;
  }

  private dropLive(runId: string): void {
    this.live.get(runId)?.close();
    this.live.delete(runId);
  }

  /** A live run's events from its first one seen, then as they come, until it closes. */
  private async *replay(run: LiveRun, signal?: AbortSignal): AsyncGenerator<AnyEnvelope> {
    let i = 0;
    for (;;) {
      while (i < run.events.length) yield run.events[i++]!;
      if (run.closed || signal?.aborted) return;
      await run.next(signal);
    }
  }

  /** Every event on `filters` from the start of the stream, each verified; forged ones are skipped. */
  private async *verified(filter: string, signal?: AbortSignal): AsyncGenerator<AnyEnvelope> {
    const { js } = await this.connection();
    const consumer = await js.consumers.get(this.subjects.streams.events, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume();
    const stop = () => void messages.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of messages) {
        let raw: unknown;
        try {
          raw = m.json<unknown>();
          this.auth.check(raw);
        } catch {
          this.forgedSkipped++;
          continue;
        }
        yield raw as AnyEnvelope;
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      await messages.close().catch(() => undefined);
    }
  }

  /** Closes the NATS connection (after draining). */
  async close(): Promise<void> {
    for (const r of this.live.values()) r.close();
    this.live.clear();
    const c = this.conn;
    this.conn = undefined;
    if (c) await (await c).nc.drain().catch(() => undefined);
  }
}

/** The run as its events show it so far. */
function fold(snap: RunSnapshot | undefined, e: AnyEnvelope): RunSnapshot | undefined {
  if (e.type === 'task_received') {
    const { submission } = (e as Envelope<'task_received'>).data;
    return {
      run_id: e.run_id!,
      status: 'received',
      agent: submission.agent,
      session_id: submission.session_id ?? null,
      action: submission.action,
      decision: null,
      approval: null,
      result: null,
      trace_id: e.trace_id,
      created_at: e.occurred_at,
      updated_at: e.occurred_at,
    };
  }
  if (!snap) return snap;
  switch (e.type) {
    case 'decision_made':
      return { ...snap, decision: (e as Envelope<'decision_made'>).data };
    case 'approval_requested': {
      const d = (e as Envelope<'approval_requested'>).data;
      return {
        ...snap,
        approval: {
          id: d.approval_id,
          status: 'pending',
          tier: d.tier,
          required_votes: d.required_votes,
          expires_at: d.expires_at,
          operators: [],
        },
      };
    }
    case 'approval_granted':
    case 'approval_rejected':
    case 'approval_expired': {
      const d = (e as Envelope<'approval_granted'>).data;
      const status =
        e.type === 'approval_granted' ? 'granted' : e.type === 'approval_rejected' ? 'rejected' : 'expired';
      return snap.approval ? { ...snap, approval: { ...snap.approval, status, operators: d.operators } } : snap;
    }
    case 'run_succeeded':
    case 'run_failed':
      return { ...snap, result: (e as Envelope<'run_succeeded'>).data.result };
    default:
      return snap;
  }
}
