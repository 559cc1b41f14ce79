import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { Subjects } from '@warden/contracts';
import { Headers, makeEnvelope, type BusConnection, type Publisher } from '@warden/bus';
import { DomainError, TransientError } from '@warden/kernel';
import { traceIdFrom } from '@warden/observability';
import { Auth, BUS, DATA_SOURCE, PUBLISHER, SUBJECTS, parseBody, type AuthedRequest } from '@warden/runtime';
import { DeadLetterRepository, type DeadLetter, type DeadLetterSummary } from '../projections/dead-letter.repository';
import type { DeadLetterPage } from './dead-letter.schemas';
import {
  bodyView,
  discarded,
  handledEvent,
  handlingRefusal,
  isCarriedHeader,
  originalBytes,
  redriveMsgId,
  redriven,
  type Handling,
} from '../domain/dead-letter.decide';

export const ListQuery = z.strictObject({
  service: z.string().min(1).max(200).optional(),
  consumer: z.string().min(1).max(200).optional(),
  code: z.string().min(1).max(200).optional(),
  reason: z.string().min(1).max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  status: z.enum(['pending', 'redriven', 'discarded']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'the next_cursor of a previous page')
    .optional(),
});
export const RedriveBody = z.strictObject({ comment: z.string().max(2000).optional() });
export const DiscardBody = z.strictObject({ reason: z.string().max(2000).optional() });

function seqParam(raw: string): number {
  const n = /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new DomainError('DEAD_LETTER.NOT_FOUND', 'no such dead letter');
  return n;
}

/**
 * Dead letters as an operator handles them (admin): list, show why one died, redrive it once to its
 * original subject (the original signed bytes, under a deterministic `Nats-Msg-Id`), or discard it.
 * Each redrive and discard is recorded as a signed `dead_letter_redriven` / `dead_letter_discarded`.
 */
@Controller('v1/dead-letters')
export class DeadLettersController {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
  ) {}

  @Get()
  @Auth('admin')
  async list(@Query() query: unknown): Promise<z.output<typeof DeadLetterPage>> {
    const { cursor, ...q } = parseBody(ListQuery, query);
    const rows = await new DeadLetterRepository(this.ds.manager).list({
      ...q,
      ...(cursor ? { before: Number(cursor) } : {}),
    });
    const last = rows[rows.length - 1];
    return { dead_letters: rows, next_cursor: rows.length === q.limit && last ? String(last.dlq_seq) : null };
  }

  @Get(':seq')
  @Auth('admin')
  async show(@Param('seq') raw: string): Promise<unknown> {
    const d = await new DeadLetterRepository(this.ds.manager).get(seqParam(raw));
    if (!d) throw new DomainError('DEAD_LETTER.NOT_FOUND', 'no such dead letter');
    const { body, headers, ...summary } = d;
    return {
      ...summary,
      why: { consumer: d.consumer, code: d.code, category: d.category, reason: d.reason, deliveries: d.deliveries },
      headers,
      ...bodyView(body),
    };
  }

  @Post(':seq/redrive')
  @HttpCode(200)
  @Auth('admin')
  async redrive(
    @Param('seq') raw: string,
    @Body() body: unknown,
    @Req() req: AuthedRequest,
  ): Promise<DeadLetterSummary> {
    const seq = seqParam(raw);
    const { comment } = parseBody(RedriveBody, body ?? {});
    return this.handle(seq, req, 'redrive', async (d) => {
      const msgId = redriveMsgId(this.subjects.streams.deadLetters, seq);
      const h = natsHeaders();
      for (const [k, v] of Object.entries(d.headers)) if (isCarriedHeader(k)) h.set(k, v);
      let ack;
      try {
        // the original bytes, never re-signed: a forged event redriven is refused again
        ack = await this.bus.js.publish(d.original_subject, originalBytes(d.body), {
          msgID: msgId,
          headers: h,
          timeout: 5000,
        });
      } catch (err) {
        throw new TransientError(`redrive to ${d.original_subject} failed: ${(err as Error).message}`, err);
      }
      return redriven(msgId, ack, comment);
    });
  }

  @Post(':seq/discard')
  @HttpCode(200)
  @Auth('admin')
  async discard(
    @Param('seq') raw: string,
    @Body() body: unknown,
    @Req() req: AuthedRequest,
  ): Promise<DeadLetterSummary> {
    const seq = seqParam(raw);
    const { reason } = parseBody(DiscardBody, body ?? {});
    return this.handle(seq, req, 'discard', async () => discarded(reason));
  }

  /**
   * Under the row lock: refuses a dead letter already handled (409) or not redrivable, acts, records
   * the signed audit event (deterministic id: a retry after a crash republishes the same one), marks
   * the row handled.
   */
  private async handle(
    seq: number,
    req: AuthedRequest,
    action: 'redrive' | 'discard',
    act: (d: DeadLetter) => Promise<Handling>,
  ): Promise<DeadLetterSummary> {
    const principal = req.principal!;
    return this.ds
      .transaction(async (em) => {
        const repo = new DeadLetterRepository(em);
        const d = await repo.get(seq, true);
        if (!d) throw new DomainError('DEAD_LETTER.NOT_FOUND', 'no such dead letter');
        const refused = handlingRefusal(d, action);
        if (refused) throw refused;
        const done = await act(d);
        const now = new Date();
        const event = handledEvent(d, done, principal, this.subjects.streams.deadLetters);
        await this.publisher.publishEvent(
          makeEnvelope({
            id: event.id,
            type: done.type,
            runId: null,
            producer: 'orchestrator',
            traceId: traceIdFrom(d.headers[Headers.traceparent]),
            correlationId: String(seq),
            data: event.data as never,
            occurredAt: now,
          }),
        );
        await repo.markHandled(seq, { ...done.row, by: principal.name, byId: principal.id, at: now });
        return (await repo.get(seq))!;
      })
      .then(({ body: _b, headers: _h, ...summary }: DeadLetter) => summary);
  }
}
