import { newId } from '@warden/kernel';
import { createTestEnv, waitFor, type TestEnv } from '@warden/testing';
import { OrderedReader, type BusMessage } from '../src';

describe('OrderedReader on real JetStream', () => {
  let t: TestEnv;
  beforeAll(async () => {
    t = await createTestEnv();
  });
  afterAll(() => t.cleanup());

  async function publish(n: number, gapMs: number, tag: string): Promise<void> {
    for (let i = 0; i < n; i++) {
      await t.bus.js.publish(t.subjects.event(newId(), tag), JSON.stringify({ i }), { msgID: newId() });
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
  }

  async function read(
    tag: string,
    lingerMs: number,
    n: number,
    gapMs: number,
    rounds = false,
  ): Promise<BusMessage[][]> {
    const batches: BusMessage[][] = [];
    const first = (await t.bus.jsm.streams.info(t.subjects.streams.events)).state.last_seq + 1;
    const reader = new OrderedReader(
      t.bus,
      {
        stream: t.subjects.streams.events,
        filterSubject: t.subjects.eventsOfType(tag),
        startSeq: first,
        lingerMs,
        rounds,
      },
      async (b) => void batches.push(b),
    );
    await reader.start({ untilCaughtUp: true });
    await publish(n, gapMs, tag);
    await waitFor(() => batches.flat().length === n, `${n} messages`, 10_000);
    await reader.stop();
    return batches;
  }

  it('without linger hands over trickling messages one by one, in order', async () => {
    const batches = await read('no_linger', 0, 12, 15);
    const seqs = batches.flat().map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(batches.length).toBeGreaterThanOrEqual(10);
  });

  it('with linger groups trickling messages into few batches, loses none, and never holds the last one back', async () => {
    const batches = await read('linger', 200, 12, 15);
    const all = batches.flat();
    expect(all).toHaveLength(12);
    expect(all.map((m) => m.seq)).toEqual([...all.map((m) => m.seq)].sort((a, b) => a - b));
    // 12 messages 15 ms apart span ~180 ms: one or two batches, not twelve
    expect(batches.length).toBeLessThanOrEqual(3);
  });

  it('lingering over everything, reads in rounds (a burst per round), not a delivery per message; stop ends a wait at once', async () => {
    const probe = await t.bus.js.consumers.get(t.subjects.streams.events, {
      filter_subjects: t.subjects.eventsOfType('probe'),
    });
    const proto = Object.getPrototypeOf(probe) as { fetch: () => unknown; consume: () => unknown };
    const fetches = jest.spyOn(proto, 'fetch');
    const consumes = jest.spyOn(proto, 'consume');
    try {
      const batches = await read('rounds', 200, 30, 10, true);
      const all = batches.flat();
      expect(all).toHaveLength(30);
      expect(all.map((m) => m.seq)).toEqual([...all.map((m) => m.seq)].sort((a, b) => a - b));
      expect(consumes).not.toHaveBeenCalled();
      // 30 messages over ~300 ms in rounds of 200 ms: a round is a one-message fetch (its first) and one
      // burst of what was stored meanwhile, so two fetches per batch, and few batches
      expect(batches.length).toBeLessThanOrEqual(3);
      expect(fetches.mock.calls.length).toBeLessThanOrEqual(2 * batches.length + 1);
    } finally {
      fetches.mockRestore();
      consumes.mockRestore();
    }
    // a reader waiting for a round's first message stops at once, without waiting out its pull
    const first = (await t.bus.jsm.streams.info(t.subjects.streams.events)).state.last_seq + 1;
    const idle = new OrderedReader(
      t.bus,
      {
        stream: t.subjects.streams.events,
        filterSubject: t.subjects.eventsOfType('idle'),
        startSeq: first,
        lingerMs: 60_000,
      },
      async () => undefined,
    );
    await idle.start({ untilCaughtUp: true });
    const began = performance.now();
    await idle.stop();
    expect(performance.now() - began).toBeLessThan(5000);
  });
});
