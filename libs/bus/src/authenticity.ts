import { createHash } from 'node:crypto';
import { EVENT_PRODUCERS, type Envelope, type EventType } from '@warden/contracts';
import { DomainError, canonicalJson, sealText, verifySealed, type Keyring } from '@warden/kernel';
import { Logger, registry } from '@warden/observability';
import { Counter } from 'prom-client';

/** Why an event was refused as inauthentic; bounded, so it doubles as the metric label. */
export type ForgeryReason = 'unsigned' | 'bad_signature' | 'wrong_producer' | 'unknown_type' | 'malformed';

const forgedEvents =
  (registry.getSingleMetric('warden_security_forged_events_total') as Counter | undefined) ??
  new Counter({
    name: 'warden_security_forged_events_total',
    help: 'Events refused because they are not signed by the one producer allowed to emit their type',
    labelNames: ['type', 'reason'],
    registers: [registry],
  });

/** An event that is not its producer's: permanent (terminated and dead-lettered), never applied. */
export class ForgedEventError extends DomainError {
  constructor(
    readonly reason: ForgeryReason,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super('EVENT.FORGED', message, { reason, ...details });
    this.name = 'ForgedEventError';
  }
}

const CACHE_MAX = 16_384;
/** Envelopes under one batch signature: 4 levels of inclusion path (about 180 characters of `sig`). */
const BATCH_MAX = 16;
const ED25519 = 'ed25519:';
const ED25519_MT = 'ed25519-mt:';

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
}

const sha256 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** RFC 9162 leaf hash of an envelope's canonical text. */
function leafHash(text: string): Buffer {
  return sha256(LEAF, Buffer.from(text));
}

/** RFC 9162 Merkle tree hash of leaf hashes. */
function treeHash(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0]!;
  const k = largestPowerOfTwoBelow(leaves.length);
  return sha256(NODE, treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

/** RFC 9162 inclusion path of leaf `m`. */
function inclusionPath(leaves: Buffer[], m: number): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  return m < k
    ? [...inclusionPath(leaves.slice(0, k), m), treeHash(leaves.slice(k))]
    : [...inclusionPath(leaves.slice(k), m - k), treeHash(leaves.slice(0, k))];
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The root an inclusion path leads to (RFC 9162 §2.1.3.2), or undefined if it cannot be valid. */
function rootFromPath(leaf: Buffer, index: number, size: number, path: Buffer[]): Buffer | undefined {
  if (!(index < size) || size < 2) return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(NODE, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = sha256(NODE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

/** What a batch's signature covers: the tree size and root, domain-separated from single events. */
function rootStatement(size: number, root: Buffer): string {
  return `warden-event-batch-v1:${size}:${root.toString('base64')}`;
}

/**
 * Signs the events this service emits and verifies every event it consumes: the envelope's `sig`
 * must be an Ed25519 signature over the envelope's canonical JSON (without `sig`) by the one
 * producer allowed to emit its type ({@link EVENT_PRODUCERS}). NATS permissions are a second wall,
 * not the only one.
 * @example const auth = new EventAuthenticity(keyring); publisher.eventMessage(auth.seal(env))
 */
export class EventAuthenticity {
  private readonly log = new Logger('security');
  /** sig → canonical text already verified in this process (several consumers read one event). */
  private readonly verified = new Map<string, string>();
  /** Batch roots whose signature verified (signature | signed statement). */
  private readonly verifiedRoots = new Map<string, true>();

  constructor(readonly keyring: Keyring) {}

  /**
   * The envelope with its producer's signature; a service can only sign as itself. What it signed is
   * remembered as verified: a service that reads its own events back (the orchestrator's runs pass,
   * policy's budgets) does not check its own signature on the exact text it signed.
   */
  seal<T extends EventType>(env: Envelope<T>): Envelope<T> {
    const { sig: _old, ...unsigned } = this.own(env);
    const text = canonicalJson(unsigned);
    const sig = sealText(this.keyring, text);
    remember(this.verified, sig, text);
    return { ...unsigned, sig } as Envelope<T>;
  }

  /**
   * Seals envelopes published together with one signature: over the root of an RFC 9162 Merkle tree
   * of their canonical texts. Each envelope carries the signature, its leaf index, the tree size and
   * its inclusion path, so it still verifies on its own (consumers filter subjects); a verifier checks
   * each root's signature once. One envelope gets a plain signature.
   * @example const [a, b] = auth.sealBatch([decision, budgetNotice])
   */
  sealBatch(envs: Envelope[]): Envelope[] {
    // trees of at most BATCH_MAX leaves: an inclusion path (and so each envelope) stays short
    if (envs.length > BATCH_MAX) {
      const out: Envelope[] = [];
      for (let i = 0; i < envs.length; i += BATCH_MAX) out.push(...this.sealBatch(envs.slice(i, i + BATCH_MAX)));
      return out;
    }
    if (envs.length <= 1) return envs.map((e) => this.seal(e));
    const bodies = envs.map((e) => {
      const { sig: _old, ...unsigned } = this.own(e);
      return unsigned;
    });
    const leaves = bodies.map((b) => leafHash(canonicalJson(b)));
    const root = treeHash(leaves);
    const statement = rootStatement(leaves.length, root);
    const rootSig = sealText(this.keyring, statement).slice(ED25519.length);
    remember(this.verifiedRoots, `${rootSig}|${statement}`, true);
    return bodies.map(
      (b, i) =>
        ({
          ...b,
          sig: `${ED25519_MT}${rootSig}:${i}/${leaves.length}:${inclusionPath(leaves, i)
            .map((h) => h.toString('base64'))
            .join(',')}`,
        }) as Envelope,
    );
  }

  private own<T extends EventType>(env: Envelope<T>): Envelope<T> {
    if (env.producer !== this.keyring.self) {
      throw new Error(`${this.keyring.self} cannot sign an event as "${env.producer}"`);
    }
    return env;
  }

  /**
   * Throws {@link ForgedEventError} unless `raw` (the parsed JSON as received, before any schema
   * parsing) is signed by the producer its type allows. Counted and logged as a security event.
   */
  check(raw: unknown): void {
    const reason = this.refusal(raw);
    if (!reason) return;
    const o = (raw ?? {}) as Record<string, unknown>;
    const type = typeof o.type === 'string' && o.type in EVENT_PRODUCERS ? o.type : 'unknown';
    forgedEvents.inc({ type, reason: reason[0] });
    const details = {
      event_id: typeof o.id === 'string' ? o.id.slice(0, 64) : undefined,
      type,
      claimed_producer: typeof o.producer === 'string' ? o.producer.slice(0, 64) : undefined,
      run_id: typeof o.run_id === 'string' ? o.run_id.slice(0, 64) : undefined,
    };
    this.log.warn('security: event refused as inauthentic', { reason: reason[0], ...details });
    throw new ForgedEventError(reason[0], reason[1], details);
  }

  private refusal(raw: unknown): [ForgeryReason, string] | undefined {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return ['malformed', 'an event must be a JSON object'];
    const { sig, ...unsigned } = raw as Record<string, unknown>;
    const type = unsigned.type;
    if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(EVENT_PRODUCERS, type)) {
      return ['unknown_type', `no producer may emit events of type "${String(type).slice(0, 64)}"`];
    }
    const allowed = EVENT_PRODUCERS[type as EventType];
    if (unsigned.producer !== allowed) {
      return ['wrong_producer', `only ${allowed} emits ${type}, not "${String(unsigned.producer).slice(0, 64)}"`];
    }
    if (typeof sig !== 'string') return ['unsigned', `${type} carries no signature`];
    let text: string;
    try {
      text = canonicalJson(unsigned);
    } catch {
      return ['malformed', 'the event cannot be canonicalised'];
    }
    if (this.verified.get(sig) === text) return undefined;
    const ok = sig.startsWith(ED25519_MT)
      ? this.verifyInBatch(allowed, text, sig)
      : verifySealed(this.keyring, allowed, text, sig);
    if (!ok) return ['bad_signature', `${type} is not signed by ${allowed}'s key`];
    remember(this.verified, sig, text);
    return undefined;
  }

  /** A batch-sealed event: its inclusion path leads to a root the producer signed. */
  private verifyInBatch(producer: string, text: string, sig: string): boolean {
    const m = /^ed25519-mt:([A-Za-z0-9+/]{86}==):(\d{1,6})\/(\d{1,6}):([A-Za-z0-9+/=,]*)$/.exec(sig);
    if (!m) return false;
    const [, rootSig, i, n, pathText] = m;
    const index = Number(i);
    const size = Number(n);
    const path = pathText ? pathText.split(',').map((h) => Buffer.from(h, 'base64')) : [];
    if (path.some((h) => h.length !== 32) || path.length > 8) return false;
    const root = rootFromPath(leafHash(text), index, size, path);
    if (!root) return false;
    const statement = rootStatement(size, root);
    const key = `${rootSig}|${statement}`;
    if (this.verifiedRoots.has(key)) return true;
    if (!verifySealed(this.keyring, producer, statement, ED25519 + rootSig!)) return false;
    remember(this.verifiedRoots, key, true);
    return true;
  }
}

let installed: EventAuthenticity | undefined;

/**
 * Makes `a` the process's authenticity check: every {@link decodeEnvelope} verifies with it from now
 * on. Services install it at boot (CoreModule), before any consumer starts; `undefined` removes it
 * (unit tests of code that refuses to trust anything without one).
 */
export function installEventAuthenticity(a: EventAuthenticity | undefined): void {
  installed = a;
}

/** The installed check, if any. */
export function eventAuthenticity(): EventAuthenticity | undefined {
  return installed;
}
