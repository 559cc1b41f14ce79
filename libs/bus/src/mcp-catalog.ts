import { Kvm, KvWatchInclude, type KV, type KvEntry } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import {
  McpCatalogEntry,
  McpPinEntry,
  mcpBuckets,
  splitUpstreamTool,
  type McpCatalogTool,
  type McpPinStatus,
  type McpToolDefinition,
  type McpToolFacts,
} from '@warden/contracts';
import {
  DomainError,
  sha256Canonical,
  signCanonical,
  signingKeysOf,
  verifyCanonical,
  type Keyring,
} from '@warden/kernel';
import { Logger, registry } from '@warden/observability';
import { Counter } from 'prom-client';
import { retryStart } from './retry';

/** Who may sign each bucket's entries: the catalog is the workers'; pins are ingest's (admins) or the workers' (first sight). */
const SIGNERS = { tools: ['workers'], pins: ['ingest', 'workers'] } as const;
type BucketKind = keyof typeof SIGNERS;

const forgedEntries =
  (registry.getSingleMetric('warden_security_forged_mcp_entries_total') as Counter | undefined) ??
  new Counter({
    name: 'warden_security_forged_mcp_entries_total',
    help: 'MCP catalog or pin entries in KV refused: unsigned, signed by another key, or malformed',
    labelNames: ['bucket', 'reason'],
    registers: [registry],
  });

/**
 * `sha256:<hex>` of an upstream tool's definition: everything the model sees of it (name, title,
 * description, input and output schema, annotations), as canonical JSON (RFC 8785).
 * @example mcpToolDigest({ name: 'echo', inputSchema: { type: 'object' } })
 */
export function mcpToolDigest(def: McpToolDefinition): string {
  const d: Record<string, unknown> = { name: def.name, inputSchema: def.inputSchema };
  if (def.title !== undefined) d.title = def.title;
  if (def.description !== undefined) d.description = def.description;
  if (def.outputSchema !== undefined) d.outputSchema = def.outputSchema;
  if (def.annotations !== undefined) d.annotations = def.annotations;
  return sha256Canonical(d);
}

/** A definition with its digest, as the catalog holds it (unknown fields of the server's dropped). */
export function catalogTool(def: McpToolDefinition): McpCatalogTool {
  const t: McpCatalogTool = { name: def.name, inputSchema: def.inputSchema, digest: mcpToolDigest(def) };
  if (def.title !== undefined) t.title = def.title;
  if (def.description !== undefined) t.description = def.description;
  if (def.outputSchema !== undefined) t.outputSchema = def.outputSchema;
  if (def.annotations !== undefined) t.annotations = def.annotations;
  return t;
}

/** Where one upstream tool stands against its server's pin. */
export function pinStatus(tool: Pick<McpCatalogTool, 'name' | 'digest'>, pin: McpPinEntry | undefined): McpPinStatus {
  const accepted = pin?.tools[tool.name];
  if (accepted === undefined) return pin ? 'changed' : 'unpinned';
  return accepted === tool.digest ? 'pinned' : 'changed';
}

/**
 * What policy judges `<server>.<tool>` with, from a verified catalog entry and pin; undefined when
 * the name is not an upstream server's (no catalog for its namespace).
 */
export function mcpFacts(
  toolName: string,
  catalog: (server: string) => McpCatalogEntry | undefined,
  pin: (server: string) => McpPinEntry | undefined,
): McpToolFacts | undefined {
  const split = splitUpstreamTool(toolName);
  if (!split) return undefined;
  const entry = catalog(split.server);
  if (!entry) return undefined;
  const tool = entry.tools.find((t) => t.name === split.tool);
  return {
    server: entry.server,
    server_role: entry.role,
    tool: split.tool,
    digest: tool?.digest ?? null,
    pinned: pin(split.server)?.tools[split.tool] ?? null,
    annotations: tool?.annotations ?? {},
  };
}

type Unsigned<T> = Omit<T, 'sig' | 'signed_by'>;

/**
 * The signed MCP catalog and pins in JetStream KV: `<PREFIX>_MCP_TOOLS` (key = server; what the
 * workers of its role hold now, signed by `workers`) and `<PREFIX>_MCP_PINS` (key = server; the
 * accepted digest per tool, signed by `ingest` when an admin pins, or by `workers` at first sight).
 * Every entry's signature covers the bucket, the key and the value, so an entry put by anyone else,
 * or copied to another server's key, is ignored (counted in `warden_security_forged_mcp_entries_total`).
 * @example const store = await McpCatalogStore.open(bus.js, 'warden', keyring); await store.catalog('everything')
 */
export class McpCatalogStore {
  private readonly log = new Logger('mcp-catalog');

  private constructor(
    private readonly keyring: Keyring,
    readonly buckets: { tools: string; pins: string },
    private readonly kv: { tools: KV; pins: KV },
  ) {}

  /** Opens (creating if missing) both buckets. */
  static async open(js: JetStreamClient, prefix: string, keyring: Keyring, replicas = 1): Promise<McpCatalogStore> {
    const buckets = mcpBuckets(prefix);
    const kvm = new Kvm(js);
    const [tools, pins] = await Promise.all([
      retryStart(`kv ${buckets.tools}`, () => kvm.create(buckets.tools, { history: 5, replicas })),
      retryStart(`kv ${buckets.pins}`, () => kvm.create(buckets.pins, { history: 20, replicas })),
    ]);
    return new McpCatalogStore(keyring, buckets, { tools, pins });
  }

  /** The server's verified catalog entry, if any. */
  async catalog(server: string): Promise<McpCatalogEntry | undefined> {
    return this.open('tools', server, await this.kv.tools.get(server));
  }

  /** The server's verified pin, if any (signed, and written directly after the entry it names). */
  async pin(server: string): Promise<McpPinEntry | undefined> {
    return this.openPin(server, await this.kv.pins.get(server));
  }

  /** Every server with a verified catalog entry (sorted by name). */
  async catalogs(): Promise<McpCatalogEntry[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.tools.keys()) keys.push(k);
    const entries = await Promise.all(keys.sort().map((k) => this.catalog(k)));
    return entries.filter((e): e is McpCatalogEntry => !!e);
  }

  /** Signs (as this service) and stores a server's catalog entry. */
  async publishCatalog(entry: Unsigned<McpCatalogEntry>): Promise<McpCatalogEntry> {
    const sealed = this.seal('tools', entry.server, entry) as McpCatalogEntry;
    await this.kv.tools.put(entry.server, JSON.stringify(sealed));
    return sealed;
  }

  /**
   * Trust on first use: the server's pin, creating one that accepts every tool of `catalog` when the
   * server never had one. An existing pin is never changed here, and a forged one is not replaced
   * (someone wrote where only pins belong: the server stays unpinned, refused, until an admin pins it).
   */
  async pinFirstSight(catalog: McpCatalogEntry): Promise<{ pin: McpPinEntry | undefined; created: boolean }> {
    const raw = await this.kv.pins.get(catalog.server);
    if (raw && raw.operation === 'PUT') return { pin: await this.openPin(catalog.server, raw), created: false };
    // a deleted or purged key keeps its marker: the first pin after it names that revision
    const prev = raw?.revision ?? 0;
    const pin = this.seal('pins', catalog.server, {
      server: catalog.server,
      tools: Object.fromEntries(catalog.tools.map((t) => [t.name, t.digest])),
      pinned_at: new Date().toISOString(),
      pinned_by: 'first-sight',
      prev_revision: prev,
    }) as McpPinEntry;
    try {
      if (prev === 0) await this.kv.pins.create(catalog.server, JSON.stringify(pin));
      else await this.kv.pins.update(catalog.server, JSON.stringify(pin), prev);
    } catch {
      // another worker pinned first: adopt its pin
      const now = await this.pin(catalog.server);
      if (now) return { pin: now, created: false };
      throw new Error(`could not pin MCP server ${catalog.server}`);
    }
    return { pin, created: true };
  }

  /**
   * Accepts the server's current catalog (every tool as it is defined now), signed by this service.
   * @throws DomainError MCP.SERVER_NOT_FOUND when no worker has catalogued the server
   */
  async repin(server: string, by: string): Promise<McpPinEntry> {
    const catalog = await this.catalog(server);
    if (!catalog) throw new DomainError('MCP.SERVER_NOT_FOUND', `no worker has catalogued an MCP server "${server}"`);
    // compare-and-set on the entry replaced (whatever it is, a forged one included), which the
    // signature names: this pin is valid only directly after it
    for (let attempt = 0; ; attempt++) {
      const current = await this.kv.pins.get(server);
      const prev = current?.revision ?? 0;
      const pin = this.seal('pins', server, {
        server,
        tools: Object.fromEntries(catalog.tools.map((t) => [t.name, t.digest])),
        pinned_at: new Date().toISOString(),
        pinned_by: by,
        prev_revision: prev,
      }) as McpPinEntry;
      try {
        if (prev === 0) await this.kv.pins.create(server, JSON.stringify(pin));
        else await this.kv.pins.update(server, JSON.stringify(pin), prev);
        return pin;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }

  /**
   * An in-memory view of both buckets, following every change (KV watch): what policy and ingest
   * read on their hot paths. Resolves once the current entries are loaded.
   */
  async follow(): Promise<McpCatalogView> {
    const view = new McpCatalogView();
    for (const kind of ['tools', 'pins'] as const) {
      // a watch is an R1 ordered consumer: placed on a just-killed node it times out (see OrderedReader)
      const iter = await retryStart(`kv watch ${this.buckets[kind]}`, () =>
        this.kv[kind].watch({ include: KvWatchInclude.LastValue }),
      );
      view.stoppers.push(() => iter.stop());
      let ready!: () => void;
      const loaded = new Promise<void>((r) => (ready = r));
      const apply = async (e: KvEntry) => {
        if (e.operation !== 'PUT') view.remove(kind, e.key);
        else {
          const v = kind === 'pins' ? await this.openPin(e.key, e) : this.open(kind, e.key, e);
          if (v) view.set(kind, e.key, v, e.revision);
        }
      };
      void (async () => {
        for await (const e of iter) {
          await apply(e);
          if (e.delta === 0) ready();
        }
        ready();
      })();
      // an empty bucket delivers nothing: ask what is there
      const status = await this.kv[kind].status();
      if (status.values === 0) ready();
      await Promise.race([loaded, new Promise((r) => setTimeout(r, 5000))]);
    }
    return view;
  }

  /**
   * A pin entry if it is signed ({@link open}) and was written directly after the revision its
   * signature names: an older genuine pin put again sits after another entry and is refused as a
   * replay (counted with reason `replayed`).
   */
  private async openPin(key: string, e: KvEntry | null): Promise<McpPinEntry | undefined> {
    const pin = this.open('pins', key, e);
    if (!pin || !e) return pin;
    const before = await this.revisionBefore(key, e.revision);
    if ((pin.prev_revision ?? 0) !== before) return this.refuse('pins', key, 'replayed');
    return pin;
  }

  /** The revision of the key's entry directly before `revision` (any operation), 0 when none is left. */
  private async revisionBefore(key: string, revision: number): Promise<number> {
    let before = 0;
    const iter = await this.kv.pins.history({ key });
    for await (const h of iter) if (h.revision < revision && h.revision > before) before = h.revision;
    return before;
  }

  private seal(kind: BucketKind, key: string, value: object): object {
    const v: Record<string, unknown> = { ...(value as Record<string, unknown>), signed_by: this.keyring.self };
    delete v.sig;
    const sig = signCanonical(signingKeysOf(this.keyring, this.keyring.self), {
      bucket: this.buckets[kind],
      key,
      value: v,
    });
    return { ...v, sig };
  }

  /** The entry if it is well-formed and signed, for this bucket and key, by a producer allowed to write it. */
  private open(kind: 'tools', key: string, e: KvEntry | null): McpCatalogEntry | undefined;
  private open(kind: 'pins', key: string, e: KvEntry | null): McpPinEntry | undefined;
  private open(kind: BucketKind, key: string, e: KvEntry | null): McpCatalogEntry | McpPinEntry | undefined;
  private open(kind: BucketKind, key: string, e: KvEntry | null): McpCatalogEntry | McpPinEntry | undefined {
    if (!e || e.operation !== 'PUT') return undefined;
    let raw: unknown;
    try {
      raw = e.json();
    } catch {
      return this.refuse(kind, key, 'malformed');
    }
    const parsed = (kind === 'tools' ? McpCatalogEntry : McpPinEntry).safeParse(raw);
    if (!parsed.success) {
      const signed = raw && typeof raw === 'object' && typeof (raw as { sig?: unknown }).sig === 'string';
      return this.refuse(kind, key, signed ? 'malformed' : 'unsigned');
    }
    const { sig, ...value } = parsed.data;
    const signer = value.signed_by;
    if (!(SIGNERS[kind] as readonly string[]).includes(signer)) return this.refuse(kind, key, 'wrong_producer');
    if (value.server !== key) return this.refuse(kind, key, 'bad_signature');
    let keys;
    try {
      keys = signingKeysOf(this.keyring, signer);
    } catch {
      return this.refuse(kind, key, 'wrong_producer');
    }
    // verify over the raw value (the schema may have dropped nothing, but never trust a re-serialisation)
    const { sig: _s, ...rawValue } = raw as Record<string, unknown>;
    if (!verifyCanonical(keys, { bucket: this.buckets[kind], key, value: rawValue }, sig))
      return this.refuse(kind, key, 'bad_signature');
    return parsed.data;
  }

  private refuse(kind: BucketKind, key: string, reason: string): undefined {
    forgedEntries.inc({ bucket: kind, reason });
    this.log.warn('security: MCP KV entry refused', { bucket: this.buckets[kind], key: key.slice(0, 64), reason });
    return undefined;
  }
}

/** The verified catalog and pins as last seen (see {@link McpCatalogStore.follow}). */
export class McpCatalogView {
  private readonly entries = {
    tools: new Map<string, { v: McpCatalogEntry; rev: number }>(),
    pins: new Map<string, { v: McpPinEntry; rev: number }>(),
  };
  /** @internal */
  readonly stoppers: (() => void)[] = [];

  /** @internal */
  set(kind: BucketKind, key: string, v: McpCatalogEntry | McpPinEntry, rev: number): void {
    const map = this.entries[kind] as Map<string, { v: McpCatalogEntry | McpPinEntry; rev: number }>;
    const cur = map.get(key);
    if (!cur || cur.rev < rev) map.set(key, { v, rev });
  }

  /** @internal */
  remove(kind: BucketKind, key: string): void {
    this.entries[kind].delete(key);
  }

  catalog(server: string): McpCatalogEntry | undefined {
    return this.entries.tools.get(server)?.v;
  }

  pin(server: string): McpPinEntry | undefined {
    return this.entries.pins.get(server)?.v;
  }

  /** Every catalogued server (sorted by name). */
  catalogs(): McpCatalogEntry[] {
    return [...this.entries.tools.values()].map((e) => e.v).sort((a, b) => (a.server < b.server ? -1 : 1));
  }

  /** The facts policy judges `<server>.<tool>` with; undefined when no server has that namespace. */
  facts(tool: string): McpToolFacts | undefined {
    return mcpFacts(
      tool,
      (s) => this.catalog(s),
      (s) => this.pin(s),
    );
  }

  stop(): void {
    for (const s of this.stoppers) s();
  }

  /** Nest lifecycle: the view stops following when the service shuts down. */
  onApplicationShutdown(): void {
    this.stop();
  }
}
