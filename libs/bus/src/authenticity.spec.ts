import crypto, { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  EVENT_PRODUCERS,
  EVENT_TYPES,
  EnvelopeBase,
  PRODUCERS,
  type Envelope,
  type EventType,
} from '@warden/contracts';
import { loadKeyring, newId, type Keyring } from '@warden/kernel';
import { EventAuthenticity, ForgedEventError } from './authenticity';

const SEED = randomBytes(32).toString('base64');
const keyringOf = (self: string): Keyring => loadKeyring({ self, keyringSeed: SEED }, PRODUCERS);
const verifier = new EventAuthenticity(keyringOf('orchestrator'));

/** An envelope of `type` by its rightful producer, with data covering every JSON kind. */
function sample(type: EventType): Envelope {
  return {
    id: newId(),
    type,
    version: 1,
    run_id: newId(),
    occurred_at: '2026-12-03T10:00:00.000Z',
    producer: EVENT_PRODUCERS[type],
    correlation_id: 'corr',
    causation_id: null,
    trace_id: 'ab'.repeat(16),
    data: {
      approval_id: newId(),
      operators: ['op-a', 'op-b'],
      nested: { list: [1, 2.5, { deep: 'x' }], flag: true, none: null },
      count: 3,
    } as never,
  };
}

const sealed = (env: Envelope) => new EventAuthenticity(keyringOf(env.producer)).seal(env);
const reason = (raw: unknown) => {
  try {
    verifier.check(raw);
    return 'accepted';
  } catch (err) {
    if (!(err instanceof ForgedEventError)) throw err;
    return err.reason;
  }
};

/** Every path to a leaf (and to each object key) of a JSON value. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => paths(x, [...at, i]))];
  if (v && typeof v === 'object') return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
  return [at];
}

function mutate(root: unknown, path: (string | number)[], how: number): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  if (path.length === 0) return copy;
  const parent = path.slice(0, -1).reduce<Record<string | number, unknown>>((o, k) => o[k] as never, copy);
  const key = path[path.length - 1]!;
  const old = parent[key];
  if (how === 0) {
    // change the value (keeping its kind where it has one)
    parent[key] =
      typeof old === 'string'
        ? old + 'x'
        : typeof old === 'number'
          ? old + 1
          : typeof old === 'boolean'
            ? !old
            : old === null
              ? 0
              : Array.isArray(old)
                ? [...old, 'extra']
                : { ...(old as object), extra: 1 };
  } else if (how === 1 && !Array.isArray(parent)) {
    delete parent[key];
  } else if (!Array.isArray(parent)) {
    // rename the key
    delete parent[key];
    parent[`${key}_`] = old;
  } else {
    parent[key] = 'swapped';
  }
  return copy;
}

describe('event authenticity', () => {
  it('accepts every type signed by its one producer, and seals only as itself', () => {
    for (const type of EVENT_TYPES) expect(reason(sealed(sample(type)))).toBe('accepted');
    const policy = new EventAuthenticity(keyringOf('policy'));
    expect(() => policy.seal(sample('approval_granted'))).toThrow(/cannot sign an event as "approvals"/);
  });

  it('refuses every type when another producer signs it, even with a genuine key', () => {
    for (const type of EVENT_TYPES) {
      for (const other of PRODUCERS.filter((p) => p !== EVENT_PRODUCERS[type])) {
        // claims the other producer: wrong producer for the type
        expect(reason(sealed({ ...sample(type), producer: other }))).toBe('wrong_producer');
        // claims the right producer, signed with the other producer's real key
        const byOther = new EventAuthenticity(keyringOf(other)).seal({ ...sample(type), producer: other });
        expect(reason({ ...byOther, producer: EVENT_PRODUCERS[type] })).toBe('bad_signature');
      }
    }
  });

  it('refuses unsigned, unknown-type, malformed and foreign-key events', () => {
    const { sig: _sig, ...unsigned } = sealed(sample('operator_created'));
    expect(reason(unsigned)).toBe('unsigned');
    expect(reason({ ...sealed(sample('task_received')), type: 'admin_granted' })).toBe('unknown_type');
    expect(reason(null)).toBe('malformed');
    expect(reason([1, 2])).toBe('malformed');
    expect(reason({ ...sealed(sample('decision_made')), sig: 'ed25519:' + 'A'.repeat(10) })).toBe('bad_signature');
    const mallory = loadKeyring({ self: 'approvals', signingKey: randomBytes(32).toString('base64') }, PRODUCERS);
    expect(reason(new EventAuthenticity(mallory).seal(sample('approval_granted')))).toBe('bad_signature');
  });

  it('refuses a copy with any field of any signed type changed, removed or renamed (property)', () => {
    const envs = EVENT_TYPES.map((t) => sealed(sample(t)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: envs.length - 1 }),
        fc.nat(),
        fc.integer({ min: 0, max: 2 }),
        (i, p, how) => {
          const env = envs[i]!;
          const { sig, ...body } = env;
          const all = paths(body).filter((x) => x.length > 0);
          const path = all[p % all.length]!;
          const forged = { ...(mutate(body, path, how) as object), sig };
          const r = reason(forged);
          // a mutation that removes the type or producer is refused for that, anything else by signature
          expect(r).not.toBe('accepted');
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('survives a replay of the same signature on the same bytes (cached) but not on other bytes', () => {
    const env = sealed(sample('approval_vote'));
    expect(reason(env)).toBe('accepted');
    expect(reason(structuredClone(env))).toBe('accepted');
    expect(reason({ ...env, run_id: newId() })).toBe('bad_signature');
  });

  it('a service reads back what it sealed itself without a second verification; an altered copy is refused', () => {
    const self = new EventAuthenticity(keyringOf('policy'));
    const verify = jest.spyOn(crypto, 'verify');
    try {
      const one = self.seal(sample('decision_made'));
      const batch = self.sealBatch([sample('decision_made'), sample('budget_exceeded')]);
      for (const e of [one, ...batch]) expect(() => self.check(structuredClone(e))).not.toThrow();
      expect(verify).not.toHaveBeenCalled();
      // what it signed is remembered with its exact text: another body under the same signature is checked, and fails
      for (const e of [one, ...batch]) {
        expect(() => self.check({ ...e, run_id: newId() })).toThrow(ForgedEventError);
      }
      expect(verify).toHaveBeenCalledTimes(3); // each altered copy is checked against the signature, and fails
    } finally {
      verify.mockRestore();
    }
  });

  describe('batch signatures', () => {
    const policy = new EventAuthenticity(keyringOf('policy'));
    const batchOf = (n: number) => policy.sealBatch(Array.from({ length: n }, () => sample('decision_made')));

    it('every envelope of a batch of any size verifies on its own, one signature per batch', () => {
      for (const n of [1, 2, 3, 5, 8, 13, 16, 33, 500]) {
        const fresh = new EventAuthenticity(keyringOf('orchestrator'));
        const batch = batchOf(n);
        // one signature per 16 envelopes, and every sig fits the envelope schema with room to spare
        if (n > 1) expect(new Set(batch.map((e) => e.sig!.split(':')[1])).size).toBe(Math.ceil(n / 16));
        for (const e of batch) expect(e.sig!.length).toBeLessThanOrEqual(300);
        // and passes the envelope schema every consumer parses with
        for (const e of batch) expect(EnvelopeBase.safeParse(e).success).toBe(true);
        for (const e of [...batch].reverse()) expect(() => fresh.check(e)).not.toThrow();
      }
    });

    it('refuses a batch member with a changed body, a path or index from another member, or another size', () => {
      const batch = batchOf(7);
      const [a, b] = [batch[2]!, batch[5]!];
      const parts = (e: Envelope) => e.sig!.split(':');
      const withSig = (e: Envelope, sig: string) => ({ ...e, sig });
      const [, rootSig, pos, path] = parts(a);
      const forged = [
        { ...a, run_id: newId() },
        withSig(a, `ed25519-mt:${rootSig}:${parts(b)[2]}:${path}`), // b's index
        withSig(a, `ed25519-mt:${rootSig}:${pos}:${parts(b)[3]}`), // b's path
        withSig(a, `ed25519-mt:${rootSig}:2/8:${path}`), // another tree size
        withSig(a, `ed25519-mt:${rootSig}:${pos}:`), // no path
        withSig(a, `ed25519-mt:${rootSig}:9/7:${path}`), // index past the end
        withSig(a, `ed25519-mt:${parts(batchOf(7)[2]!)[1]}:${pos}:${path}`), // another batch's signature
      ];
      for (const f of forged) expect(reason(f)).toBe('bad_signature');
      expect(reason(a)).toBe('accepted');
      // a batch root signed by another producer's key does not pass as the policy's
      const other = new EventAuthenticity(keyringOf('approvals')).sealBatch(
        [1, 2, 3].map(() => ({ ...sample('decision_made'), producer: 'approvals' })),
      );
      expect(reason({ ...other[1]!, producer: 'policy' })).toBe('bad_signature');
    });

    it('refuses any mutation of a batch member (property)', () => {
      const batch = batchOf(6);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 5 }), fc.nat(), fc.integer({ min: 0, max: 2 }), (i, p, how) => {
          const { sig, ...body } = batch[i]!;
          const all = paths(body).filter((x) => x.length > 0);
          expect(reason({ ...(mutate(body, all[p % all.length]!, how) as object), sig })).not.toBe('accepted');
        }),
        { numRuns: 1000 },
      );
    });
  });
});
