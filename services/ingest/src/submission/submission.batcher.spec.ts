import { SubmissionBatcher } from './submission.batcher';
import type { IntakeItem, IntakeResult } from './submission.service';

const item = (n: number): IntakeItem => ({
  source: { channel: 'http', key: ['http', String(n)], sourceId: String(n) },
  body: new Uint8Array([n]),
});

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('SubmissionBatcher', () => {
  it('sends a lone request at once and batches those that arrive while the slots are busy', async () => {
    const calls: number[][] = [];
    const gates: { resolve: (v: void) => void }[] = [];
    const batcher = new SubmissionBatcher(
      async (items) => {
        calls.push(items.map((i) => i.body[0]!));
        const gate = deferred<void>();
        gates.push(gate);
        await gate.promise;
        return items.map((i): IntakeResult => ({
          status: 'fulfilled',
          value: { kind: 'accepted', runId: `run-${i.body[0]}`, eventId: 'e' },
        }));
      },
      256,
      1,
    );
    const first = batcher.submit(item(1));
    const rest = [2, 3, 4].map((n) => batcher.submit(item(n)));
    expect(calls).toEqual([[1]]);
    gates[0]!.resolve();
    await expect(first).resolves.toMatchObject({ runId: 'run-1' });
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([[1], [2, 3, 4]]);
    gates[1]!.resolve();
    await expect(Promise.all(rest)).resolves.toEqual([
      expect.objectContaining({ runId: 'run-2' }),
      expect.objectContaining({ runId: 'run-3' }),
      expect.objectContaining({ runId: 'run-4' }),
    ]);
  });

  it('settles each item by its own result, and rejects the whole batch when the call throws', async () => {
    let fail = false;
    const batcher = new SubmissionBatcher(async (items) => {
      if (fail) throw new Error('postgres down');
      return items.map((i): IntakeResult =>
        i.body[0] === 2
          ? { status: 'rejected', reason: new Error('transient') }
          : { status: 'fulfilled', value: { kind: 'duplicate', runId: 'r' } },
      );
    });
    await expect(batcher.submit(item(1))).resolves.toEqual({ kind: 'duplicate', runId: 'r' });
    await expect(batcher.submit(item(2))).rejects.toThrow('transient');
    fail = true;
    await expect(batcher.submit(item(3))).rejects.toThrow('postgres down');
  });
});
