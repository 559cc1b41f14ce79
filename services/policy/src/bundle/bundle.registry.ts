import { Kvm, type KV } from '@nats-io/kv';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import { retryStart, type BusConnection } from '@warden/bus';
import { DomainError, ValidationError, signCanonical, verifyCanonical, type SigningKeys } from '@warden/kernel';
import { registry, type Logger } from '@warden/observability';
import { Counter } from 'prom-client';
import { parseBundle, type LoadedBundle, unexecutableRewrites } from '@warden/policy-language';
import { ActiveBundle, readBundleFile, type BundleInfo } from './active-bundle';

/**
 * The KV entry every replica watches: which bundle is active. Signed by the policy's own key over
 * the pointer and its bucket (`sig`), so a pointer put by anyone else on the bus activates nothing;
 * a signed pointer older than the active one (a replayed earlier activation) is refused too.
 */
export interface ActivePointer {
  digest: string;
  version: string;
  activated_at: string;
  activated_by: string;
  sig?: string;
}

/** A stored bundle, as `GET /v1/policy/bundles` lists it. */
export interface StoredBundle {
  digest: string;
  version: string;
  created_at: string;
  created_by: string;
  last_activated_at: string | null;
  active: boolean;
}

const ACTIVE_KEY = 'active';
/** Parsed bundles kept for replay and what-if (by digest). */
const CACHE_SIZE = 16;

/** The KV bucket of a subject prefix: `WARDEN_POLICY` for `warden` (tests get their own). */
export function policyBucket(subjects: Subjects): string {
  return `${subjects.prefix.toUpperCase().replace(/-/g, '_')}_POLICY`;
}

/**
 * Bundles by digest in Postgres (`policy.bundles`, `policy.activations`), the active one named in
 * the JetStream KV bucket `<PREFIX>_POLICY` (key `active`). Every replica watches the key: on a
 * change it loads the bundle from Postgres, validates and compiles it completely, then swaps the
 * {@link ActiveBundle} reference in one assignment, so no decision is ever made with a half-loaded
 * bundle and every replica follows within the KV's push latency (milliseconds).
 *
 * At start the bundle file (`WARDEN_POLICY_FILE`) is the seed: it is activated when the bucket names
 * no bundle yet, or when its content was never stored before (a deploy that ships a new file);
 * otherwise the bucket's choice (a pushed bundle, a rollback) stands.
 */
export class BundleRegistry {
  private readonly cache = new Map<string, LoadedBundle>();
  private watching?: { stop(): void };
  private closed = false;

  private constructor(
    private readonly ds: DataSource,
    private readonly kv: KV,
    readonly active: ActiveBundle,
    private readonly log: Logger,
    private readonly pointers: PointerSeal,
  ) {
    this.remember(active.current);
  }

  /**
   * Opens (creating if missing) the bucket, settles the active bundle and starts following it.
   * @example const registry = await BundleRegistry.open(ds, bus, subjects, 'deploy/policies/default.yaml', log)
   */
  static async open(
    ds: DataSource,
    bus: BusConnection,
    subjects: Subjects,
    file: string,
    log: Logger,
    keys: SigningKeys,
    replicas = 1,
  ): Promise<BundleRegistry> {
    const kv = await retryStart(`kv ${policyBucket(subjects)}`, () =>
      new Kvm(bus.js).create(policyBucket(subjects), { history: 20, replicas }),
    );
    const pointers = new PointerSeal(keys, policyBucket(subjects), log);
    const seed = await readBundleFile(file);
    const seen = await ds.query('SELECT 1 FROM "policy".bundles WHERE digest = $1', [seed.loaded.digest]);
    await storeBundle(ds, seed.text, seed.loaded, `file:${file}`);
    let pointer = await readPointer(kv, pointers);
    // Postgres records every activation: a signed pointer that is not the latest one is a replay
    const latest: { digest: string; activated_by: string }[] = await ds.query(
      'SELECT digest, activated_by FROM "policy".activations ORDER BY id DESC LIMIT 1',
    );
    if (pointer && latest[0] && pointer.digest !== latest[0].digest) {
      pointers.refuse('stale', pointer);
      const restored = await loadStored(ds, latest[0].digest);
      pointer = pointers.seal(pointerFor(restored, new Date(), latest[0].activated_by));
      await kv.put(ACTIVE_KEY, JSON.stringify(pointer));
    }
    if (!pointer || seen.length === 0) {
      const next = pointers.seal(pointerFor(seed.loaded, new Date(), `file:${file}`));
      // an unsigned or forged pointer counts as none: the seed file is activated over it
      if (pointer || (await kv.get(ACTIVE_KEY))) await kv.put(ACTIVE_KEY, JSON.stringify(next));
      else {
        // two replicas starting at once: the first create wins, the other adopts it
        await kv.create(ACTIVE_KEY, JSON.stringify(next)).catch(() => undefined);
      }
      await ds.query('INSERT INTO "policy".activations (digest, activated_by) VALUES ($1, $2)', [
        seed.loaded.digest,
        next.activated_by,
      ]);
      pointer = (await readPointer(kv, pointers)) ?? next;
    }
    const loaded = pointer.digest === seed.loaded.digest ? seed.loaded : await loadStored(ds, pointer.digest);
    const registry = new BundleRegistry(
      ds,
      kv,
      new ActiveBundle(loaded, new Date(pointer.activated_at)),
      log,
      pointers,
    );
    await registry.follow();
    return registry;
  }

  /** What `GET /v1/policy` shows. */
  info(): BundleInfo {
    return this.active.info();
  }

  /**
   * Validates, stores and activates a bundle on every replica. Throws {@link ValidationError}
   * (400 with every problem's path and line) for a bad bundle, leaving the active one in place. A
   * bundle whose tests show a compute rewrite no worker can execute is refused the same way.
   */
  async push(text: string, by: string): Promise<BundleInfo> {
    const loaded = parseBundle(text);
    const unexecutable = unexecutableRewrites(loaded);
    if (unexecutable.length) throw new ValidationError(unexecutable);
    await storeBundle(this.ds, text, loaded, by);
    this.remember(loaded);
    return this.activate(loaded.digest, by);
  }

  /**
   * Activates a stored bundle (rollback: an older digest) on every replica.
   * @throws DomainError POLICY.BUNDLE_NOT_FOUND for a digest never stored
   */
  async activate(digest: string, by: string): Promise<BundleInfo> {
    const loaded = await this.load(digest);
    const pointer = this.pointers.seal(pointerFor(loaded, new Date(), by));
    await this.ds.query('INSERT INTO "policy".activations (digest, activated_by) VALUES ($1, $2)', [digest, by]);
    await this.kv.put(ACTIVE_KEY, JSON.stringify(pointer));
    // this replica switches now; the others when the watch tells them (this one's watch then finds it done)
    this.apply(loaded, pointer);
    return this.active.info();
  }

  /** A stored bundle by digest, parsed and compiled (cached). */
  async load(digest: string): Promise<LoadedBundle> {
    const hit = this.cache.get(digest);
    if (hit) return hit;
    const loaded = await loadStored(this.ds, digest);
    this.remember(loaded);
    return loaded;
  }

  /** A stored bundle's source text. */
  async source(digest: string): Promise<{ digest: string; version: string; source: string }> {
    const rows: { digest: string; version: string; source: string }[] = await this.ds.query(
      'SELECT digest, version, source FROM "policy".bundles WHERE digest = $1',
      [digest],
    );
    if (!rows[0]) throw new DomainError('BUNDLE.NOT_FOUND', `no stored bundle ${digest}`);
    return rows[0];
  }

  /** Stored bundles, newest first. */
  async list(): Promise<StoredBundle[]> {
    const rows: {
      digest: string;
      version: string;
      created_at: Date;
      created_by: string;
      last: Date | null;
    }[] = await this.ds.query(
      `SELECT b.digest, b.version, b.created_at, b.created_by, max(a.activated_at) AS last
         FROM "policy".bundles b LEFT JOIN "policy".activations a ON a.digest = b.digest
        GROUP BY b.digest ORDER BY b.created_at DESC LIMIT 100`,
    );
    const current = this.active.current.digest;
    return rows.map((r) => ({
      digest: r.digest,
      version: r.version,
      created_at: new Date(r.created_at).toISOString(),
      created_by: r.created_by,
      last_activated_at: r.last ? new Date(r.last).toISOString() : null,
      active: r.digest === current,
    }));
  }

  close(): void {
    this.closed = true;
    this.watching?.stop();
  }

  private async follow(): Promise<void> {
    const iter = await retryStart('kv watch policy bundle', () => this.kv.watch({ key: ACTIVE_KEY }));
    this.watching = { stop: () => iter.stop() };
    void (async () => {
      for await (const e of iter) {
        if (this.closed) break;
        if (e.operation !== 'PUT') continue;
        try {
          const pointer = this.pointers.open(e.json<ActivePointer>());
          if (!pointer || pointer.digest === this.active.current.digest) continue;
          if (Date.parse(pointer.activated_at) < Date.parse(this.active.info().activated_at)) {
            this.pointers.refuse('stale', pointer);
            continue;
          }
          this.apply(await this.load(pointer.digest), pointer);
          this.log.info('policy bundle activated', { digest: pointer.digest, version: pointer.version });
        } catch (err) {
          // the active bundle stays: never judge with a bundle that did not load completely
          this.log.error('policy bundle activation failed; keeping the active bundle', { error: err as Error });
        }
      }
    })();
  }

  private apply(loaded: LoadedBundle, pointer: ActivePointer): void {
    if (loaded.digest !== pointer.digest) throw new Error(`bundle digest ${loaded.digest} ≠ ${pointer.digest}`);
    if (this.active.current.digest === loaded.digest) return;
    this.active.activate(loaded, new Date(pointer.activated_at));
  }

  private remember(loaded: LoadedBundle): void {
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(loaded.digest, loaded);
  }
}

function pointerFor(loaded: LoadedBundle, at: Date, by: string): ActivePointer {
  return { digest: loaded.digest, version: loaded.bundle.version, activated_at: at.toISOString(), activated_by: by };
}

async function readPointer(kv: KV, pointers: PointerSeal): Promise<ActivePointer | undefined> {
  const e = await kv.get(ACTIVE_KEY);
  if (!e || e.operation !== 'PUT') return undefined;
  try {
    return pointers.open(e.json<ActivePointer>());
  } catch {
    return pointers.refuse('malformed', undefined);
  }
}

const forgedPointers =
  (registry.getSingleMetric('warden_security_forged_policy_activations_total') as Counter | undefined) ??
  new Counter({
    name: 'warden_security_forged_policy_activations_total',
    help: 'Policy activations in the KV bucket refused: not signed by the policy key, or older than the active one',
    labelNames: ['reason'],
    registers: [registry],
  });

/** Signs and checks activation pointers with the policy's own key, bound to the bucket they live in. */
class PointerSeal {
  constructor(
    private readonly keys: SigningKeys,
    private readonly bucket: string,
    private readonly log: Logger,
  ) {}

  seal(p: ActivePointer): ActivePointer {
    const { sig: _old, ...unsigned } = p;
    return { ...unsigned, sig: signCanonical(this.keys, { ...unsigned, bucket: this.bucket }) };
  }

  /** The pointer if the policy signed it for this bucket; undefined (counted, logged) otherwise. */
  open(p: ActivePointer): ActivePointer | undefined {
    if (!p || typeof p !== 'object') return this.refuse('malformed', undefined);
    const { sig, ...unsigned } = p;
    if (typeof sig !== 'string') return this.refuse('unsigned', p);
    if (!verifyCanonical(this.keys, { ...unsigned, bucket: this.bucket }, sig)) return this.refuse('bad_signature', p);
    return p;
  }

  refuse(reason: string, p: ActivePointer | undefined): undefined {
    forgedPointers.inc({ reason });
    this.log.warn('security: policy activation refused', { reason, digest: p?.digest, activated_by: p?.activated_by });
    return undefined;
  }
}

async function storeBundle(ds: DataSource, text: string, loaded: LoadedBundle, by: string): Promise<void> {
  await ds.query(
    `INSERT INTO "policy".bundles (digest, version, source, created_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (digest) DO NOTHING`,
    [loaded.digest, loaded.bundle.version, text, by],
  );
}

async function loadStored(ds: DataSource, digest: string): Promise<LoadedBundle> {
  const rows: { source: string }[] = await ds.query('SELECT source FROM "policy".bundles WHERE digest = $1', [digest]);
  if (!rows[0]) throw new DomainError('BUNDLE.NOT_FOUND', `no stored bundle ${digest}`);
  let loaded: LoadedBundle;
  try {
    loaded = parseBundle(rows[0].source);
  } catch (err) {
    if (err instanceof ValidationError)
      throw new DomainError('POLICY.BUNDLE_INVALID', `stored bundle ${digest} no longer validates: ${err.message}`);
    throw err;
  }
  if (loaded.digest !== digest) {
    // the schema's defaults changed since it was stored: its canonical form (and so digest) moved
    throw new DomainError('POLICY.BUNDLE_INVALID', `stored bundle ${digest} now parses to ${loaded.digest}`);
  }
  return loaded;
}
