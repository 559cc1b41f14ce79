import { Kvm, type KV } from '@nats-io/kv';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import { retryStart, type BusConnection } from '@warden/bus';
import type { SigningKeys } from '@warden/kernel';
import { registry, type Logger } from '@warden/observability';
import { Counter } from 'prom-client';
import type { LoadedBundle } from '@warden/policy-language';
import { ActiveBundle, readBundleFile, type BundleInfo } from './active-bundle';
import { BundleStore } from './bundle.store';
import {
  isStale,
  openPointer,
  pointerFor,
  policyBucket,
  sealPointer,
  startupSteps,
  type ActivePointer,
  type PointerRefusal,
} from './domain/active-pointer';
import { compilePushed, compileStored, storedBundleOf, type StoredBundle } from './domain/bundle.rules';

export { policyBucket };

const ACTIVE_KEY = 'active';
/** Parsed bundles kept for replay and what-if (by digest). */
const CACHE_SIZE = 16;

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
    private readonly store: BundleStore,
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
    const store = new BundleStore(ds);
    const kv = await retryStart(`kv ${policyBucket(subjects)}`, () =>
      new Kvm(bus.js).create(policyBucket(subjects), { history: 20, replicas }),
    );
    const pointers = new PointerSeal(keys, policyBucket(subjects), log);
    const seed = await readBundleFile(file);
    const seen = await store.has(seed.loaded.digest);
    await store.store(seed.text, seed.loaded, `file:${file}`);
    let pointer = await readPointer(kv, pointers);
    // Postgres records every activation: a signed pointer that is not the latest one is a replay
    const latest = await store.latestActivation();
    const steps = startupSteps(pointer?.digest, latest?.digest, seen);
    if (steps.restore && pointer && latest) {
      pointers.refuse('stale', pointer);
      const restored = compileStored(await store.sourceText(latest.digest), latest.digest);
      pointer = pointers.seal(pointerFor(restored, new Date(), latest.activated_by));
      await kv.put(ACTIVE_KEY, JSON.stringify(pointer));
    }
    if (steps.activateSeed) {
      const next = pointers.seal(pointerFor(seed.loaded, new Date(), `file:${file}`));
      // an unsigned or forged pointer counts as none: the seed file is activated over it
      if (pointer || (await kv.get(ACTIVE_KEY))) await kv.put(ACTIVE_KEY, JSON.stringify(next));
      else {
        // two replicas starting at once: the first create wins, the other adopts it
        await kv.create(ACTIVE_KEY, JSON.stringify(next)).catch(() => undefined);
      }
      await store.recordActivation(seed.loaded.digest, next.activated_by);
      pointer = (await readPointer(kv, pointers)) ?? next;
    }
    // startupSteps activates the seed whenever the bucket named none
    const settled = pointer!;
    const loaded =
      settled.digest === seed.loaded.digest
        ? seed.loaded
        : compileStored(await store.sourceText(settled.digest), settled.digest);
    const registry = new BundleRegistry(
      store,
      kv,
      new ActiveBundle(loaded, new Date(settled.activated_at)),
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
    const loaded = compilePushed(text);
    await this.store.store(text, loaded, by);
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
    await this.store.recordActivation(digest, by);
    await this.kv.put(ACTIVE_KEY, JSON.stringify(pointer));
    // this replica switches now; the others when the watch tells them (this one's watch then finds it done)
    this.apply(loaded, pointer);
    return this.active.info();
  }

  /** A stored bundle by digest, parsed and compiled (cached). */
  async load(digest: string): Promise<LoadedBundle> {
    const hit = this.cache.get(digest);
    if (hit) return hit;
    const loaded = compileStored(await this.store.sourceText(digest), digest);
    this.remember(loaded);
    return loaded;
  }

  /** A stored bundle's source text. */
  async source(digest: string): Promise<{ digest: string; version: string; source: string }> {
    return this.store.source(digest);
  }

  /** Stored bundles, newest first. */
  async list(): Promise<StoredBundle[]> {
    const rows = await this.store.list();
    const current = this.active.current.digest;
    return rows.map((r) => storedBundleOf(r, current));
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
          if (isStale(pointer, this.active.info().activated_at)) {
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

/** Signs and checks activation pointers (domain/active-pointer.ts), counting and logging each refusal. */
class PointerSeal {
  constructor(
    private readonly keys: SigningKeys,
    private readonly bucket: string,
    private readonly log: Logger,
  ) {}

  seal(p: ActivePointer): ActivePointer {
    return sealPointer(this.keys, this.bucket, p);
  }

  /** The pointer if the policy signed it for this bucket; undefined (counted, logged) otherwise. */
  open(p: ActivePointer): ActivePointer | undefined {
    const opened = openPointer(this.keys, this.bucket, p);
    return 'refused' in opened ? this.refuse(opened.refused, opened.pointer) : opened.pointer;
  }

  refuse(reason: PointerRefusal, p: ActivePointer | undefined): undefined {
    forgedPointers.inc({ reason });
    this.log.warn('security: policy activation refused', { reason, digest: p?.digest, activated_by: p?.activated_by });
    return undefined;
  }
}
