import { randomBytes } from 'node:crypto';
import { loadSigningKeys } from '@warden/kernel';
import { parseBundle } from '@warden/policy-language';
import {
  isStale,
  openPointer,
  pointerFor,
  policyBucket,
  sealPointer,
  startupSteps,
  type ActivePointer,
} from './active-pointer';

const keys = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
const otherKeys = loadSigningKeys(randomBytes(32).toString('base64'), undefined);
const loaded = parseBundle(`
version: 'pointer-test.1'
mode: enforce
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
roles: { dev: { tools: [fs.read_file] } }
rules: [{ id: read, tools: [fs.read_file], outcome: allow, reason: ok }]
`);
const AT = new Date('2026-11-21T10:00:00.000Z');

describe('policyBucket', () => {
  it('given a subject prefix, then its upper-cased bucket with dashes as underscores', () => {
    expect(policyBucket({ prefix: 'warden' })).toBe('WARDEN_POLICY');
    expect(policyBucket({ prefix: 't-1a2b' })).toBe('T_1A2B_POLICY');
  });
});

describe('pointerFor', () => {
  it('given a loaded bundle, then its digest and version, when and by whom', () => {
    expect(pointerFor(loaded, AT, 'admin:ops')).toEqual({
      digest: loaded.digest,
      version: 'pointer-test.1',
      activated_at: '2026-11-21T10:00:00.000Z',
      activated_by: 'admin:ops',
    });
  });
});

describe('sealPointer / openPointer', () => {
  const sealed = sealPointer(keys, 'WARDEN_POLICY', pointerFor(loaded, AT, 'admin:ops'));

  it('given a pointer the policy sealed for this bucket, then it opens as is', () => {
    expect(openPointer(keys, 'WARDEN_POLICY', sealed)).toEqual({ pointer: sealed });
  });

  it('given a sealed pointer re-sealed, then the old signature is replaced (one sig, still valid)', () => {
    const again = sealPointer(keys, 'WARDEN_POLICY', sealed);
    expect(again.sig).toBe(sealed.sig);
    expect(openPointer(keys, 'WARDEN_POLICY', again)).toEqual({ pointer: again });
  });

  it('given the same pointer copied into another prefix’s bucket, then bad_signature', () => {
    expect(openPointer(keys, 'OTHER_POLICY', sealed)).toEqual({ refused: 'bad_signature', pointer: sealed });
  });

  it('given a pointer whose digest was edited after sealing, then bad_signature', () => {
    const edited: ActivePointer = { ...sealed, digest: `sha256:${'0'.repeat(64)}` };
    expect(openPointer(keys, 'WARDEN_POLICY', edited)).toMatchObject({ refused: 'bad_signature' });
  });

  it('given a pointer signed by another key, then bad_signature', () => {
    const forged = sealPointer(otherKeys, 'WARDEN_POLICY', pointerFor(loaded, AT, 'mallory'));
    expect(openPointer(keys, 'WARDEN_POLICY', forged)).toMatchObject({ refused: 'bad_signature' });
  });

  it('given a pointer without sig, then unsigned', () => {
    const bare = pointerFor(loaded, AT, 'mallory');
    expect(openPointer(keys, 'WARDEN_POLICY', bare)).toEqual({ refused: 'unsigned', pointer: bare });
  });

  it.each([null, 'active', 42])('given %p, then malformed', (value) => {
    expect(openPointer(keys, 'WARDEN_POLICY', value)).toEqual({ refused: 'malformed' });
  });
});

describe('isStale', () => {
  const p = pointerFor(loaded, AT, 'x');
  it('given a pointer activated before the active bundle, then stale', () => {
    expect(isStale(p, '2026-11-21T10:00:00.001Z')).toBe(true);
  });
  it('given one activated at the same time or later, then not stale', () => {
    expect(isStale(p, '2026-11-21T10:00:00.000Z')).toBe(false);
    expect(isStale(p, '2026-11-21T09:59:59.999Z')).toBe(false);
  });
});

describe('startupSteps', () => {
  it('given an empty bucket, then the seed is activated (nothing to restore)', () => {
    expect(startupSteps(undefined, undefined, false)).toEqual({ restore: false, activateSeed: true });
    expect(startupSteps(undefined, 'sha256:a', true)).toEqual({ restore: false, activateSeed: true });
  });

  it('given the bucket names the latest activation and the seed file is known, then the bucket’s choice stands', () => {
    expect(startupSteps('sha256:a', 'sha256:a', true)).toEqual({ restore: false, activateSeed: false });
  });

  it('given a seed file never stored before (a deploy shipping a new file), then it is activated over the bucket', () => {
    expect(startupSteps('sha256:a', 'sha256:a', false)).toEqual({ restore: false, activateSeed: true });
  });

  it('given a signed pointer that is not the latest activation (a replay), then the latest is restored', () => {
    expect(startupSteps('sha256:old', 'sha256:new', true)).toEqual({ restore: true, activateSeed: false });
    expect(startupSteps('sha256:old', 'sha256:new', false)).toEqual({ restore: true, activateSeed: true });
  });

  it('given a pointer but no activation recorded (Postgres emptied), then nothing to restore', () => {
    expect(startupSteps('sha256:a', undefined, true)).toEqual({ restore: false, activateSeed: false });
  });
});
