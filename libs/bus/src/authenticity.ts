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

const CACHE_MAX = 4096;

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

  constructor(readonly keyring: Keyring) {}

  /** The envelope with its producer's signature; a service can only sign as itself. */
  seal<T extends EventType>(env: Envelope<T>): Envelope<T> {
    if (env.producer !== this.keyring.self) {
      throw new Error(`${this.keyring.self} cannot sign an event as "${env.producer}"`);
    }
    const { sig: _old, ...unsigned } = env;
    return { ...unsigned, sig: sealText(this.keyring, canonicalJson(unsigned)) } as Envelope<T>;
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
    if (!verifySealed(this.keyring, allowed, text, sig)) {
      return ['bad_signature', `${type} is not signed by ${allowed}'s key`];
    }
    if (this.verified.size >= CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(sig, text);
    return undefined;
  }
}

let installed: EventAuthenticity | undefined;

/**
 * Makes `a` the process's authenticity check: every {@link decodeEnvelope} verifies with it from now
 * on. Services install it at boot (CoreModule), before any consumer starts.
 */
export function installEventAuthenticity(a: EventAuthenticity): void {
  installed = a;
}

/** The installed check, if any. */
export function eventAuthenticity(): EventAuthenticity | undefined {
  return installed;
}
