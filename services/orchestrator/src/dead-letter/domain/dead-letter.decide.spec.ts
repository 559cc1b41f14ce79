import { DomainError, deriveId } from '@warden/kernel';
import {
  bodyView,
  discarded,
  handledEvent,
  handlingRefusal,
  isCarriedHeader,
  originalBytes,
  redriveMsgId,
  redriven,
  type DeadLetterFacts,
} from './dead-letter.decide';

const STREAM = 'WARDEN_DLQ';
const operator = { id: 'op-1', name: 'alice' };

const pending = (over: Partial<DeadLetterFacts> = {}): DeadLetterFacts => ({
  dlq_seq: 7,
  dlq_subject: 'warden.dlq.orchestrator.runs',
  service: 'orchestrator',
  consumer: 'runs',
  code: 'EVENT.FORGED',
  original_subject: 'warden.events.run.r1.decision_made',
  original_stream: 'WARDEN_EVENTS',
  original_seq: 42,
  status: 'pending',
  handled_by: null,
  handled_at: null,
  ...over,
});

describe('handling a dead letter (given / when / then)', () => {
  it('lets a pending dead letter be redriven or discarded', () => {
    expect(handlingRefusal(pending(), 'redrive')).toBeUndefined();
    expect(handlingRefusal(pending(), 'discard')).toBeUndefined();
  });

  it('refuses a second handling, naming who handled it and when (409)', () => {
    const done = pending({ status: 'redriven', handled_by: 'bob', handled_at: '2026-12-03T10:00:00.000Z' });
    for (const action of ['redrive', 'discard'] as const) {
      const refused = handlingRefusal(done, action);
      expect(refused).toBeInstanceOf(DomainError);
      expect(refused).toMatchObject({
        code: 'DEAD_LETTER.ALREADY_HANDLED',
        message: 'dead letter 7 was already redriven by bob at 2026-12-03T10:00:00.000Z',
      });
    }
    expect(handlingRefusal(pending({ status: 'discarded' }), 'discard')?.message).toBe(
      'dead letter 7 was already discarded by ? at ?',
    );
  });

  it('refuses to redrive a dead letter that names no original subject, but lets it be discarded', () => {
    const orphan = pending({ original_subject: '' });
    expect(handlingRefusal(orphan, 'redrive')).toMatchObject({ code: 'DEAD_LETTER.NOT_REDRIVABLE' });
    expect(handlingRefusal(orphan, 'discard')).toBeUndefined();
  });

  it('says "already handled" before "not redrivable"', () => {
    expect(handlingRefusal(pending({ original_subject: '', status: 'discarded' }), 'redrive')).toMatchObject({
      code: 'DEAD_LETTER.ALREADY_HANDLED',
    });
  });

  it('records a redrive with its message id, where the broker put it and the comment', () => {
    const msgId = redriveMsgId(STREAM, 7);
    expect(msgId).toBe('redrive:WARDEN_DLQ:7');
    expect(redriven(msgId, { stream: 'WARDEN_EVENTS', seq: 99 }, 'fixed the key')).toEqual({
      type: 'dead_letter_redriven',
      data: { redrive_msg_id: msgId, redrive_stream: 'WARDEN_EVENTS', redrive_seq: 99, comment: 'fixed the key' },
      row: { status: 'redriven', note: 'fixed the key', redriveMsgId: msgId, redriveSeq: 99 },
    });
    expect(redriven(msgId, { stream: 'WARDEN_EVENTS', seq: 99 }).data).not.toHaveProperty('comment');
  });

  it('records a discard with the reason when one is given', () => {
    expect(discarded('poison')).toEqual({
      type: 'dead_letter_discarded',
      data: { reason: 'poison' },
      row: { status: 'discarded', note: 'poison' },
    });
    expect(discarded()).toEqual({ type: 'dead_letter_discarded', data: {}, row: { status: 'discarded' } });
  });

  it('audits which dead letter, who and what, under an id a retry repeats', () => {
    const d = pending();
    const event = handledEvent(d, discarded('poison'), operator, STREAM);
    expect(event).toEqual({
      id: deriveId('WARDEN_DLQ:7', 'dead_letter_discarded'),
      data: {
        dlq_seq: 7,
        dlq_subject: d.dlq_subject,
        service: 'orchestrator',
        consumer: 'runs',
        code: 'EVENT.FORGED',
        original_subject: d.original_subject,
        original_stream: 'WARDEN_EVENTS',
        original_seq: 42,
        operator_id: 'op-1',
        operator: 'alice',
        reason: 'poison',
      },
    });
    expect(handledEvent(d, discarded('again'), { id: 'op-2', name: 'bob' }, STREAM).id).toBe(event.id);
    expect(handledEvent(d, redriven('m', { stream: 's', seq: 1 }), operator, STREAM).id).not.toBe(event.id);
  });

  it('leaves out the original stream and sequence when the dead letter does not know them', () => {
    const data = handledEvent(
      pending({ original_stream: null, original_seq: null }),
      discarded(),
      operator,
      STREAM,
    ).data;
    expect(data).not.toHaveProperty('original_stream');
    expect(data).not.toHaveProperty('original_seq');
  });

  it('redrives the original bytes with their own headers, not the dead-letter or broker ones', () => {
    expect(['Warden-Event-Type', 'traceparent'].every(isCarriedHeader)).toBe(true);
    expect(['Warden-DLQ-Reason', 'warden-dlq-code', 'Nats-Msg-Id'].some(isCarriedHeader)).toBe(false);
    const json = Buffer.from('{"a":1}');
    expect(originalBytes(json)).toBe(json);
    expect(Buffer.from(originalBytes(Buffer.from(JSON.stringify({ raw_base64: 'AAEC' }))))).toEqual(
      Buffer.from([0, 1, 2]),
    );
  });

  it('shows the body as JSON when it is JSON, else as base64', () => {
    expect(bodyView(Buffer.from('{"a":1}'))).toEqual({ body: { a: 1 } });
    expect(bodyView(Buffer.from([0xff, 0xfe]))).toEqual({ body_base64: '//4=' });
  });
});
