import { Kvm } from '@nats-io/kv';
import { mcpBuckets } from '@warden/contracts';
import { registry } from '@warden/observability';
import { createTestEnv, testKeyring, waitFor, type TestEnv } from '@warden/testing';
import { McpCatalogStore, catalogTool } from '../src';

/** Pins in KV on real JetStream: signed, chained to the entry they replace, so a replay is refused. */
describe('MCP pins: an older genuine pin put again is a replay', () => {
  let t: TestEnv;
  let workers: McpCatalogStore;
  let ingest: McpCatalogStore;
  beforeAll(async () => {
    t = await createTestEnv();
    workers = await McpCatalogStore.open(t.bus.js, t.prefix, testKeyring('workers'));
    ingest = await McpCatalogStore.open(t.bus.js, t.prefix, testKeyring('ingest'));
  });
  afterAll(() => t.cleanup());

  const definition = (description: string) =>
    catalogTool({ name: 'lookup', description, inputSchema: { type: 'object' } });

  async function catalogue(server: string, description: string) {
    return workers.publishCatalog({
      server,
      role: 'research',
      transport: 'stdio',
      tools: [definition(description)],
      published_at: new Date().toISOString(),
      worker_id: 'w1',
    });
  }

  async function replayedCount(): Promise<number> {
    const m = await registry.getSingleMetric('warden_security_forged_mcp_entries_total')!.get();
    return m.values.find((v) => v.labels.bucket === 'pins' && v.labels.reason === 'replayed')?.value ?? 0;
  }

  it('refuses the replayed pin on read, in a running view and in a fresh one; an admin re-pin heals it', async () => {
    const server = 'replayed';
    const a = definition('Looks a key up.').digest;
    const b = definition('Looks a key up (v2).').digest;
    const first = await workers.pinFirstSight(await catalogue(server, 'Looks a key up.'));
    expect(first).toMatchObject({ created: true, pin: { tools: { lookup: a }, prev_revision: 0 } });

    // the definition changes and an admin accepts it
    await catalogue(server, 'Looks a key up (v2).');
    const repinned = await ingest.repin(server, 'operator:alice');
    expect(repinned.tools).toEqual({ lookup: b });
    expect((await workers.pin(server))?.tools).toEqual({ lookup: b });
    const view = await workers.follow();
    expect(view.pin(server)?.tools).toEqual({ lookup: b });

    // an attacker with KV write access puts the first (genuinely signed) pin again
    const kv = await new Kvm(t.bus.js).open(mcpBuckets(t.prefix).pins);
    const history: { revision: number; value: Uint8Array }[] = [];
    for await (const h of await kv.history({ key: server })) history.push({ revision: h.revision, value: h.value });
    const original = history.sort((x, y) => x.revision - y.revision)[0]!;
    const before = await replayedCount();
    await kv.put(server, original.value);

    // refused where the worker checks before each call, and by the running view (it keeps the admin's pin)
    expect(await workers.pin(server)).toBeUndefined();
    await waitFor(async () => (await replayedCount()) >= before + 2, 'the running view to refuse the replay');
    expect(view.pin(server)?.tools).toEqual({ lookup: b });
    // a process that starts now sees the replay as the latest entry: unpinned (refused), never the old pin
    const fresh = await workers.follow();
    expect(fresh.pin(server)).toBeUndefined();

    // the admin pins again: compare-and-set after the replayed entry, valid everywhere
    const healed = await ingest.repin(server, 'operator:alice');
    expect(healed.prev_revision).toBeGreaterThan(original.revision);
    expect((await workers.pin(server))?.tools).toEqual({ lookup: b });
    await waitFor(() => fresh.pin(server)?.tools.lookup === b, 'the fresh view to take the new pin');
    view.stop();
    fresh.stop();
  });

  it('first sight after a deleted pin chains to the delete marker', async () => {
    const server = 'deleted';
    await workers.pinFirstSight(await catalogue(server, 'One.'));
    const kv = await new Kvm(t.bus.js).open(mcpBuckets(t.prefix).pins);
    await kv.delete(server);
    expect(await workers.pin(server)).toBeUndefined();
    const again = await workers.pinFirstSight(await catalogue(server, 'Two.'));
    expect(again.created).toBe(true);
    expect(again.pin?.prev_revision).toBeGreaterThan(0);
    expect((await workers.pin(server))?.tools.lookup).toBe(definition('Two.').digest);
  });
});
