import type { DataSource, EntityManager } from 'typeorm';
import type { AnyEnvelope, Subjects } from '@warden/contracts';
import {
  BusMessage,
  OrderedReader,
  decodeEnvelope,
  type BusConnection,
  type OutgoingMessage,
  type Publisher,
  Headers,
} from '@warden/bus';
import { DomainError } from '@warden/kernel';
import { simpleTransaction } from './simple-transaction';
import { Logger, MessageSpans, busMetrics, traceIdFrom } from '@warden/observability';

/** One decoded event in a projection batch. */
export interface ProjectedEvent {
  msg: BusMessage;
  env: AnyEnvelope;
}

/** Facts about the batch being applied. */
export interface ApplyContext {
  /** True while rebuilding: apply state only, publish nothing. */
  rebuild: boolean;
  now: Date;
  /**
   * The rows of the handler's {@link ProjectionHandler.preload} statement, read in the transaction
   * (after the checkpoint lock) for exactly these events; absent when it has none or the batch was cut
   * (another replica applied part of it): the handler then reads what it needs itself.
   */
  preloaded?: Record<string, unknown>[];
}

/**
 * A read model (and, for process managers, a reactor). `apply` runs inside the transaction that also
 * moves the checkpoint; what it returns is published before that transaction commits, with
 * deterministic ids, so a crash between the two republishes the same ids and the broker drops them.
 */
export interface ProjectionHandler {
  apply(events: ProjectedEvent[], em: EntityManager, ctx: ApplyContext): Promise<OutgoingMessage[] | void>;
  /** Deletes every row this projection owns (rebuild starts from empty tables). */
  reset(em: EntityManager): Promise<void>;
  /** Called once the transaction of a batch `apply` saw has committed (not while rebuilding): metrics. */
  committed?(): void;
  /**
   * A read-only statement for the batch's events, sent in the same round trip as `BEGIN` and the
   * checkpoint lock (so it runs after the lock, in the transaction); its rows reach `apply` as
   * `ctx.preloaded`. It goes as simple-protocol text, so every value in it must already be an escaped
   * literal (see `uuidArrayLiteral`); undefined to read nothing ahead.
   */
  preload?(events: ProjectedEvent[]): string | undefined;
}

/** A wanted message of a batch: decoded and verified, or the dead letter it becomes. */
type Decoded = ProjectedEvent | { msg: BusMessage; dead: OutgoingMessage; forged: boolean };

export interface ProjectionSpec {
  /** Checkpoint name, unique within the schema. */
  name: string;
  schema: string;
  service: string;
  stream: string;
  filterSubject: string;
  maxBatch?: number;
  /** See {@link OrderedReadSpec.lingerMs}: for read models that may lag by this much. Default 0. */
  lingerMs?: number;
  /**
   * With `lingerMs`, the event types that may wait (the rest hand the batch over at once; see
   * {@link OrderedReadSpec.mayLinger}). Default: every type may wait.
   */
  lingerTypes?: readonly string[];
  /** With `lingerMs` and no `lingerTypes`: read in rounds (see OrderedReadSpec.rounds), for dense readers. */
  rounds?: boolean;
  /**
   * Event types this projection cares about; others only advance the checkpoint, undecoded
   * (read from the `Warden-Event-Type` header). Default: all.
   */
  eventTypes?: readonly string[];
  /**
   * A look at a wanted type's body (parsed, not yet verified) that can leave the event out: false means
   * this projection has nothing to do with it, and it only advances the checkpoint like a type not in
   * `eventTypes` — a batch of nothing but such events costs no transaction. It can only leave events
   * out: one it keeps is verified and decoded as usual. A genuine event is judged on its signed body, so
   * a forger can at most have their own forgery skipped here (the consumers that act on it still
   * refuse and dead-letter it). The position reached past left-out events is stored once a second at
   * most, and within a second even if nothing else arrives; so whoever reads the checkpoint to know the
   * projection has seen an event should wait on it only for events it keeps (approvals' Slack notifier
   * waits on plan items only for receipts that name a plan). Default: every event of a wanted type is
   * applied.
   */
  relevant?: (body: unknown) => boolean;
}

/**
 * Emmett-style checkpointed projection over JetStream: an ordered consumer from checkpoint + 1, and
 * each batch applied with the checkpoint update in one transaction. The checkpoint row is locked, so
 * replicas never apply a batch twice; a restart neither skips nor double-applies.
 */
export class CheckpointedProjection {
  private reader?: OrderedReader;
  private readonly log: Logger;

  constructor(
    private readonly ds: DataSource,
    private readonly bus: BusConnection,
    private readonly subjects: Subjects,
    private readonly publisher: Publisher | undefined,
    private readonly spec: ProjectionSpec,
    private readonly handler: ProjectionHandler,
  ) {
    this.log = new Logger(spec.service).child(`projection:${spec.name}`);
  }

  private get table(): string {
    return `"${this.spec.schema}".projection_checkpoints`;
  }

  private async ensureRow(): Promise<void> {
    await this.ds.query(`INSERT INTO ${this.table} (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [
      this.spec.name,
    ]);
  }

  async position(em: EntityManager = this.ds.manager): Promise<number> {
    const rows: { position: string }[] = await em.query(`SELECT position FROM ${this.table} WHERE name = $1`, [
      this.spec.name,
    ]);
    return rows.length ? Number(rows[0]!.position) : 0;
  }

  /** Starts following the stream from the stored checkpoint. */
  async start(): Promise<void> {
    await this.ensureRow();
    const from = (await this.position()) + 1;
    this.reader = new OrderedReader(
      this.bus,
      {
        stream: this.spec.stream,
        filterSubject: this.spec.filterSubject,
        startSeq: from,
        maxBatch: this.spec.maxBatch,
        lingerMs: this.spec.lingerMs,
        ...(this.spec.lingerTypes ? { mayLinger: lingerFilter(this.spec.lingerTypes) } : {}),
        ...(this.spec.rounds ? { rounds: true } : {}),
      },
      (batch) => this.applyIsolating(batch, false),
      this.log,
    );
    await this.reader.start();
    this.log.info('projecting', { from_seq: from, subject: this.spec.filterSubject });
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
    this.reader = undefined;
    clearTimeout(this.skippedTimer);
    this.skippedTimer = undefined;
    await this.flushSkipped(true).catch((err: unknown) =>
      this.log.warn('could not store position', { error: err as Error }),
    );
  }

  /**
   * Empties the projection's tables and replays the stream into them, publishing nothing; resolves
   * once it has caught up with what the stream held when it began.
   */
  async rebuild(): Promise<number> {
    await this.ensureRow();
    await this.ds.transaction(async (em) => {
      await this.handler.reset(em);
      await em.query(`UPDATE ${this.table} SET position = 0, updated_at = now() WHERE name = $1`, [this.spec.name]);
    });
    const reader = new OrderedReader(
      this.bus,
      {
        stream: this.spec.stream,
        filterSubject: this.spec.filterSubject,
        startSeq: 1,
        maxBatch: this.spec.maxBatch ?? 1000,
      },
      (batch) => this.applyIsolating(batch, true),
      this.log,
    );
    await reader.start({ untilCaughtUp: true });
    await reader.stop();
    await this.flushSkipped(true);
    return this.position();
  }

  /** Position reached by batches that held nothing this projection wants (not yet stored). */
  private skippedTo = 0;
  private skippedFlushedAt = 0;
  /** Stores {@link skippedTo} when a second has passed since the last store, if nothing else did. */
  private skippedTimer?: NodeJS.Timeout;

  private wants(msg: BusMessage): boolean {
    if (this.spec.eventTypes) {
      const type = msg.header(Headers.eventType);
      if (type && !this.spec.eventTypes.includes(type)) return false;
    }
    if (!this.spec.relevant) return true;
    let seen = this.relevance.get(msg);
    if (seen === undefined) {
      try {
        seen = this.spec.relevant(msg.json());
      } catch {
        seen = true; // unreadable: the usual path dead-letters it
      }
      this.relevance.set(msg, seen);
    }
    return seen;
  }

  /** {@link ProjectionSpec.relevant}'s answer per message, so a body is parsed for it once. */
  private readonly relevance = new WeakMap<BusMessage, boolean>();

  /**
   * Stores the position reached by skipped batches. Skipping is idempotent (a restart from an older
   * checkpoint skips the same events again), so this is only written now and then, never per batch —
   * but within a second, even if no batch follows: a reader waiting for the checkpoint to pass a
   * left-out event (a forgery of a kept type's look, say) is not left waiting until the next one.
   * Monotonic (`GREATEST`), so it may run beside a batch's transaction.
   */
  private async flushSkipped(force: boolean): Promise<void> {
    if (this.skippedTo === 0) return;
    const wait = 1000 - (Date.now() - this.skippedFlushedAt);
    if (!force && wait > 0) {
      if (!this.skippedTimer && this.reader) {
        this.skippedTimer = setTimeout(() => {
          this.skippedTimer = undefined;
          this.flushSkipped(false).catch((err: unknown) =>
            this.log.warn('could not store position', { error: err as Error }),
          );
        }, wait);
        this.skippedTimer.unref();
      }
      return;
    }
    const to = this.skippedTo;
    await this.ds.query(
      `UPDATE ${this.table} SET position = GREATEST(position, $2), updated_at = now() WHERE name = $1`,
      [this.spec.name, to],
    );
    this.skippedFlushedAt = Date.now();
    if (this.skippedTo === to) this.skippedTo = 0;
  }

  private async applyBatch(batch: BusMessage[], rebuild: boolean): Promise<void> {
    const started = process.hrtime.bigint();
    if (!batch.some((m) => this.wants(m))) {
      this.skippedTo = batch[batch.length - 1]!.seq;
      await this.flushSkipped(false);
      return;
    }
    this.skippedTo = 0; // the transaction below stores a later position anyway
    busMetrics.projectionLag.set({ projection: this.spec.name }, batch[batch.length - 1]!.raw.info.pending);
    if (rebuild) return this.applyWanted(batch, rebuild, started);
    // one span per event this projection applies (in its run's trace), linked to the batch's span
    const traced = batch.filter((m) => this.wants(m));
    const spans = MessageSpans.start(
      this.spec.service,
      `${this.spec.service}-${this.spec.name}`,
      traced.map((m) => ({ traceparent: m.traceparent, attributes: m.traceAttributes() })),
    );
    try {
      await spans.run(() => this.applyWanted(batch, rebuild, started));
      spans.end();
    } catch (err) {
      spans.end(traced.map(() => ({ error: err })));
      throw err;
    }
  }

  private async applyWanted(batch: BusMessage[], rebuild: boolean, started: bigint): Promise<void> {
    // decoded (and verified) before the transaction, so the handler's preload can go with BEGIN
    const decoded = this.decodeWanted(batch);
    const events = decoded.flatMap((d) => ('env' in d ? [d] : []));
    const preload = events.length && this.handler.preload ? this.handler.preload(events) : undefined;
    let outgoing: OutgoingMessage[] = [];
    let applied = false;
    await this.inTransaction(async (em, position, preloaded) => {
      const fresh = batch.filter((m) => m.seq > position);
      if (fresh.length === 0) return undefined; // another replica (or an earlier attempt) applied it
      const cut = fresh.length < batch.length;
      const mine = cut ? decoded.filter((d) => d.msg.seq > position) : decoded;
      const evs = mine.flatMap((d) => ('env' in d ? [d] : []));
      const dead = mine.flatMap((d) => ('dead' in d ? [d.dead] : []));
      const forged = mine.filter((d) => 'dead' in d && d.forged).length;
      applied = evs.length > 0;
      const ctx: ApplyContext = { rebuild, now: new Date(), ...(preloaded && !cut ? { preloaded } : {}) };
      const out = evs.length ? ((await this.handler.apply(evs, em, ctx)) ?? []) : [];
      outgoing = rebuild ? [] : [...out, ...dead];
      // publish before commit: a crash in between republishes the same ids, which the broker drops
      if (outgoing.length && this.publisher) await this.publisher.publishAll(outgoing);
      busMetrics.projectionEvents.inc({ projection: this.spec.name }, evs.length);
      if (dead.length && !rebuild) {
        const consumer = `${this.spec.service}-${this.spec.name}`;
        if (dead.length > forged) busMetrics.deadLetters.inc({ consumer, reason: 'invalid' }, dead.length - forged);
        if (forged) busMetrics.deadLetters.inc({ consumer, reason: 'forged' }, forged);
      }
      return fresh[fresh.length - 1]!.seq;
    }, preload);
    if (applied && !rebuild) this.handler.committed?.();
    busMetrics.projectionBatches.observe(
      { projection: this.spec.name },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
  }

  /** The wanted messages of a batch, each decoded (verified) or, if it cannot be, its dead letter. */
  private decodeWanted(batch: BusMessage[]): Decoded[] {
    return batch.flatMap((msg): Decoded[] => {
      if (!this.wants(msg)) return [];
      try {
        return [{ msg, env: decodeEnvelope(msg.json(), true) }];
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        // a forged event never reaches the read model; the dead letter keeps it for the security review
        return [{ msg, dead: this.deadLetterMessage(msg, err), forged: err.code === 'EVENT.FORGED' }];
      }
    });
  }

  /**
   * One batch's transaction in two round trips besides what `work` sends: `BEGIN`, the locked
   * checkpoint read and the handler's preload go together, and so do the checkpoint update and
   * `COMMIT` (simple-protocol multi-statement queries; the name and position are inlined, never user
   * input, and the preload's values are escaped literals). `work` gets the stored position and the
   * preload's rows, and returns the position to store, or undefined to store nothing. TypeORM's runner
   * is told a transaction is open, so anything in `work` that would start one makes a savepoint instead.
   * Read models are rebuilt from the stream and the checkpoint commits with the rows, so a commit lost
   * in a crash is simply re-applied: no need to wait for the WAL flush (`synchronous_commit` off, local).
   */
  private async inTransaction(
    work: (
      em: EntityManager,
      position: number,
      preloaded: Record<string, unknown>[] | undefined,
    ) => Promise<number | undefined>,
    preload?: string,
  ) {
    const name = `'${this.spec.name.replace(/'/g, "''")}'`;
    await simpleTransaction(
      this.ds,
      `SELECT position, set_config('synchronous_commit', 'off', true) FROM ${this.table} WHERE name = ${name} FOR UPDATE` +
        (preload ? `;\n${preload}` : ''),
      async (em, results) => {
        const to = await work(em, Number(results[0]!.rows[0]!.position), preload ? results[1]!.rows : undefined);
        return {
          result: undefined,
          ...(to === undefined
            ? {}
            : {
                beforeCommit: `UPDATE ${this.table} SET position = ${Math.trunc(to)}, updated_at = now() WHERE name = ${name}`,
              }),
        };
      },
    );
  }

  /**
   * Applies a batch; when Postgres refuses its data (SQLSTATE class 22/23: a value no column can hold,
   * a violated constraint), halves it until the one event at fault is found, dead-letters that event
   * and moves past it. Order is kept, and nothing else in the batch is held back by it.
   */
  private async applyIsolating(batch: BusMessage[], rebuild: boolean): Promise<void> {
    try {
      await this.applyBatch(batch, rebuild);
    } catch (err) {
      if (!isDataError(err)) throw err; // transient: the reader retries the whole batch
      if (batch.length > 1) {
        const mid = Math.ceil(batch.length / 2);
        await this.applyIsolating(batch.slice(0, mid), rebuild);
        await this.applyIsolating(batch.slice(mid), rebuild);
        return;
      }
      await this.skipPoison(batch[0]!, err as Error, rebuild);
    }
  }

  private async skipPoison(msg: BusMessage, err: Error, rebuild: boolean): Promise<void> {
    const code = `POSTGRES.${(err as { code?: string }).code ?? 'DATA'}`;
    this.log.error('event refused by Postgres; dead-lettered and skipped', {
      seq: msg.seq,
      subject: msg.subject,
      error: err,
    });
    await this.ds.transaction(async (em) => {
      const rows: { position: string }[] = await em.query(
        `SELECT position FROM ${this.table} WHERE name = $1 FOR UPDATE`,
        [this.spec.name],
      );
      if (Number(rows[0]!.position) >= msg.seq) return;
      if (!rebuild && this.publisher) {
        await this.publisher.publishAll([this.deadLetterMessage(msg, new DomainError(code, err.message))]);
        busMetrics.deadLetters.inc({ consumer: `${this.spec.service}-${this.spec.name}`, reason: 'refused' });
      }
      await em.query(`UPDATE ${this.table} SET position = $2, updated_at = now() WHERE name = $1`, [
        this.spec.name,
        msg.seq,
      ]);
    });
  }

  private deadLetterMessage(msg: BusMessage, err: DomainError): OutgoingMessage {
    this.log.warn('invalid event dead-lettered', { seq: msg.seq, subject: msg.subject, error: err.message });
    let payload: unknown;
    try {
      payload = msg.json();
    } catch {
      payload = { raw_base64: Buffer.from(msg.data).toString('base64') };
    }
    return {
      subject: this.subjects.deadLetter(this.spec.service, this.spec.name),
      payload,
      msgId: `dlq:${this.spec.stream}:${this.spec.service}-${this.spec.name}:${msg.seq}`,
      traceId: traceIdFrom(msg.traceparent),
      kind: 'dead_letter',
      headers: {
        [Headers.dlqReason]: err.message.slice(0, 1000).replace(/[\r\n]+/g, ' '),
        [Headers.dlqCode]: err.code,
        [Headers.dlqSubject]: msg.subject,
        [Headers.dlqStream]: this.spec.stream,
        [Headers.dlqStreamSeq]: String(msg.seq),
        [Headers.dlqConsumer]: `${this.spec.service}-${this.spec.name}`,
      },
    };
  }
}

/** Whether a message may wait in a held batch: its type (the `Warden-Event-Type` header) is one of `types`. */
function lingerFilter(types: readonly string[]): (msg: BusMessage) => boolean {
  const set = new Set(types);
  return (msg) => set.has(msg.header(Headers.eventType) ?? '');
}

/** A Postgres data exception or integrity violation: retrying the same rows can never succeed. */
function isDataError(err: unknown): boolean {
  const code =
    (err as { code?: unknown; driverError?: { code?: unknown } })?.code ??
    (err as { driverError?: { code?: unknown } })?.driverError?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}
