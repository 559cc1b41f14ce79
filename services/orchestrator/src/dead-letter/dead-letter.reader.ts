import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import { Headers, OrderedReader, type BusConnection, type BusMessage } from '@warden/bus';
import { Logger } from '@warden/observability';
import { BUS, DATA_SOURCE, SUBJECTS } from '@warden/runtime';
import { DeadLetterRepository, type NewDeadLetter } from './projections/dead-letter.repository';

const CHECKPOINT = 'dead_letters';

/** The `warden_bus_dead_letters_total` reason label a dead letter was counted under, from its code. */
export function categoryOf(code: string): string {
  if (code === 'EVENT.FORGED') return 'forged';
  if (code === 'CONSUMER.MAX_DELIVERIES') return 'max_deliveries';
  if (code.startsWith('VALIDATION.')) return 'invalid';
  return 'refused';
}

/** The row for one message of WARDEN_DLQ (`warden.dlq.<service>.<consumer>` + the `Warden-Dlq-*` headers). */
export function deadLetterRow(msg: BusMessage, subjects: Subjects): NewDeadLetter {
  const headers: Record<string, string> = {};
  for (const [k, vs] of msg.raw.headers ?? []) headers[k] = vs.join(', ');
  const [service = '?', ...rest] = msg.subject.slice(`${subjects.prefix}.dlq.`.length).split('.');
  const code = msg.header(Headers.dlqCode) ?? 'UNKNOWN';
  const seqOf = (h: string) => {
    const n = Number(msg.header(h));
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  };
  return {
    dlq_seq: msg.seq,
    dlq_subject: msg.subject,
    service,
    consumer: msg.header(Headers.dlqConsumer) ?? `${service}-${rest.join('.')}`,
    code,
    category: categoryOf(code),
    reason: msg.header(Headers.dlqReason) ?? '',
    original_subject: msg.header(Headers.dlqSubject) ?? '',
    original_stream: msg.header(Headers.dlqStream) ?? null,
    original_seq: seqOf(Headers.dlqStreamSeq),
    deliveries: seqOf(Headers.dlqDeliveries),
    headers,
    body: Buffer.from(msg.data),
    dead_at: new Date(Math.floor(Number(msg.raw.info.timestampNanos) / 1e6)),
  };
}

/**
 * Follows WARDEN_DLQ into `orchestrator.dead_letters` (an ordered read from its checkpoint; rows are
 * inserted idempotently, so replicas may all follow it). The handled state lives in the same rows.
 */
@Injectable()
export class DeadLetterReader implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private reader?: OrderedReader;
  private readonly log = new Logger('orchestrator').child('dead-letters');

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const table = '"orchestrator".projection_checkpoints';
    await this.ds.query(`INSERT INTO ${table} (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [
      CHECKPOINT,
    ]);
    const rows: { position: string }[] = await this.ds.query(`SELECT position FROM ${table} WHERE name = $1`, [
      CHECKPOINT,
    ]);
    this.reader = new OrderedReader(
      this.bus,
      {
        stream: this.subjects.streams.deadLetters,
        filterSubject: this.subjects.deadLettersAll,
        startSeq: Number(rows[0]?.position ?? 0) + 1,
        maxBatch: 200,
      },
      (batch) =>
        this.ds.transaction(async (em) => {
          await new DeadLetterRepository(em).insert(batch.map((m) => deadLetterRow(m, this.subjects)));
          await em.query(`UPDATE ${table} SET position = GREATEST(position, $2), updated_at = now() WHERE name = $1`, [
            CHECKPOINT,
            batch[batch.length - 1]!.seq,
          ]);
        }),
      this.log,
    );
    await this.reader.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.reader?.stop();
  }
}
