import { TransientError, ValidationError, DomainError } from '@warden/kernel';
import { createTestEnv, readAll, waitFor, type TestEnv } from '@warden/testing';
import { WorkConsumer, backoffMs } from '../src/work-consumer';
import type { BusMessage } from '../src/message';
import { Headers } from '../src/headers';

describe('WorkConsumer on real JetStream', () => {
  let t: TestEnv;
  beforeAll(async () => {
    t = await createTestEnv();
  });
  afterAll(async () => t?.cleanup());

  const publish = (subject: string, body: unknown) => t.bus.js.publish(subject, JSON.stringify(body));

  it('acks successes, dead-letters permanent failures with the reason, retries transient ones', async () => {
    const subject = t.subjects.event('00000000-0000-4000-8000-000000000001', 'task_received');
    const seen: number[] = [];
    let transientLeft = 2;
    const consumer = new WorkConsumer(
      t.bus,
      t.subjects,
      { service: 'libtest', name: 'single', stream: t.subjects.streams.events, filterSubject: subject, maxDeliver: 5 },
      async (msg: BusMessage) => {
        const { n } = msg.json() as { n: number };
        seen.push(n);
        if (n === 2) throw new ValidationError([{ path: 'n', message: 'two is invalid' }]);
        if (n === 3 && transientLeft-- > 0) throw new TransientError('database briefly away');
      },
    );
    await consumer.start();
    for (const n of [1, 2, 3, 4]) await publish(subject, { n });
    await waitFor(
      () => seen.filter((n) => n === 3).length === 3 && seen.includes(4),
      'the retried message to succeed',
      15_000,
    );
    const dead = await waitFor(async () => {
      const d = await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLetter('libtest', 'single'));
      return d.length ? d : undefined;
    }, 'the dead letter');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.json()).toEqual({ n: 2 });
    // the poison message was handled once and never again: it was terminated, not redelivered
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.filter((n) => n === 2)).toHaveLength(1);
    const info = await t.bus.jsm.consumers.info(t.subjects.streams.events, 'libtest-single');
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    await consumer.stop();
  });

  it('settles each message of a batch by its own outcome, and does not let a poison message block the rest', async () => {
    const subject = t.subjects.event('00000000-0000-4000-8000-000000000002', 'task_received');
    for (let n = 0; n < 50; n++) await publish(subject, { n });
    const batches: number[][] = [];
    const consumer = new WorkConsumer(
      t.bus,
      t.subjects,
      { service: 'libtest', name: 'batch', stream: t.subjects.streams.events, filterSubject: subject },
      {
        maxBatch: 20,
        batch: async (msgs) => {
          batches.push(msgs.map((m) => (m.json() as { n: number }).n));
          return msgs.map((m) =>
            (m.json() as { n: number }).n % 10 === 7
              ? new DomainError('TEST.REFUSED', 'sevens are refused')
              : undefined,
          );
        },
      },
    );
    await consumer.start();
    const dead = await waitFor(async () => {
      const d = await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLetter('libtest', 'batch'));
      return d.length === 5 ? d : undefined;
    }, 'five dead letters');
    expect(dead.map((d) => (d.json() as { n: number }).n).sort((a, b) => a - b)).toEqual([7, 17, 27, 37, 47]);
    await waitFor(
      async () => (await t.bus.jsm.consumers.info(t.subjects.streams.events, 'libtest-batch')).num_ack_pending === 0,
      'all settled',
    );
    expect(batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(20);
    expect(batches.length).toBeLessThan(50); // really batched
    const raw = await t.bus.jsm.streams.getMessage(t.subjects.streams.deadLetters, {
      last_by_subj: t.subjects.deadLetter('libtest', 'batch'),
    });
    expect(raw!.header.get(Headers.dlqCode)).toBe('TEST.REFUSED');
    expect(raw!.header.get(Headers.dlqSubject)).toBe(subject);
    await consumer.stop();
  });

  it('hands over the tail of a burst at once, not after the ack wait', async () => {
    const subject = t.subjects.event('00000000-0000-4000-8000-000000000004', 'task_received');
    await Promise.all(Array.from({ length: 3000 }, (_, n) => publish(subject, { n })));
    const handled = new Set<number>();
    const consumer = new WorkConsumer(
      t.bus,
      t.subjects,
      {
        service: 'libtest',
        name: 'tail',
        stream: t.subjects.streams.events,
        filterSubject: subject,
        ackWaitMs: 30_000,
      },
      {
        maxBatch: 256,
        batch: async (msgs) => {
          msgs.forEach((m) => handled.add((m.json() as { n: number }).n));
          return msgs.map(() => undefined);
        },
      },
    );
    await consumer.start();
    // well under the 30 s ack wait: nothing may sit in a half-open batch
    await waitFor(() => handled.size === 3000, 'all 3000 messages', 8_000);
    await consumer.stop();
  });

  it('dead-letters a message that has been delivered too often without running the handler again', async () => {
    const subject = t.subjects.event('00000000-0000-4000-8000-000000000003', 'task_received');
    let calls = 0;
    const consumer = new WorkConsumer(
      t.bus,
      t.subjects,
      {
        service: 'libtest',
        name: 'exhaust',
        stream: t.subjects.streams.events,
        filterSubject: subject,
        maxDeliver: 2,
        ackWaitMs: 1000,
      },
      async () => {
        calls++;
        throw new Error('always fails');
      },
    );
    await consumer.start();
    await publish(subject, { n: 1 });
    const dead = await waitFor(
      async () => {
        const d = await readAll(t.bus, t.subjects.streams.deadLetters, t.subjects.deadLetter('libtest', 'exhaust'));
        return d.length ? d : undefined;
      },
      'the exhausted message to be dead-lettered',
      20_000,
    );
    expect(dead).toHaveLength(1);
    expect(calls).toBe(2);
    await consumer.stop();
  });

  it('backs off exponentially with jitter, capped at 30 s', () => {
    expect(backoffMs(1)).toBeGreaterThanOrEqual(200);
    expect(backoffMs(1)).toBeLessThanOrEqual(300);
    expect(backoffMs(4)).toBeGreaterThanOrEqual(1600);
    expect(backoffMs(30)).toBeLessThanOrEqual(36_000);
  });
});
