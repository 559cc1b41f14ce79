import { isTransientJetStreamError, retryStart } from './retry';

const timeout = () => Object.assign(new Error('timeout'), { name: 'TimeoutError' });
const quiet = { warn: () => undefined } as never;

describe('isTransientJetStreamError', () => {
  it.each([
    ['a request timeout', timeout()],
    ['no responders', new Error('no responders available')],
    [
      '503 temporarily unavailable',
      Object.assign(new Error('JetStream system temporarily unavailable'), { code: 503 }),
    ],
  ])('retries %s', (_what, err) => expect(isTransientJetStreamError(err)).toBe(true));

  it.each([
    ['stream not found', new Error('stream not found')],
    ['a config refusal', new Error('subjects overlap with an existing stream')],
    ['nothing', undefined],
  ])('does not retry %s', (_what, err) => expect(isTransientJetStreamError(err)).toBe(false));
});

describe('retryStart', () => {
  it('retries timeouts with a fresh attempt (numbered) until one succeeds', async () => {
    const seen: number[] = [];
    const out = await retryStart(
      'step',
      async (n) => {
        seen.push(n);
        if (n < 3) throw timeout();
        return 'ok';
      },
      { baseDelayMs: 1, maxDelayMs: 2, log: quiet },
    );
    expect(out).toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('throws a permanent error at once', async () => {
    let calls = 0;
    await expect(
      retryStart(
        'step',
        async () => {
          calls++;
          throw new Error('stream name already in use with a different configuration');
        },
        { baseDelayMs: 1, log: quiet },
      ),
    ).rejects.toThrow(/already in use/);
    expect(calls).toBe(1);
  });

  it('gives up with the last timeout once maxWaitMs has passed', async () => {
    let calls = 0;
    const started = Date.now();
    await expect(
      retryStart(
        'step',
        async () => {
          calls++;
          throw timeout();
        },
        { maxWaitMs: 50, baseDelayMs: 5, maxDelayMs: 10, log: quiet },
      ),
    ).rejects.toThrow('timeout');
    expect(calls).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
