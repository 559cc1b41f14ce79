import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_PRODUCERS, EVENT_TYPES } from '@warden/contracts';

const ROOT = join(__dirname, '..', '..');

/** For each NATS user of the production config, the event types it may publish. */
function publishersByType(): Map<string, Set<string>> {
  const conf = readFileSync(join(ROOT, 'deploy/nats/nats-prod.conf'), 'utf8');
  const out = new Map<string, Set<string>>();
  for (const block of conf.split(/\n\s*user:\s*/).slice(1)) {
    const user = /^(\w+)/.exec(block)![1]!;
    const publish = /publish:\s*\{([\s\S]*?)\n\s*\}/.exec(block)?.[1] ?? '';
    for (const m of publish.matchAll(/"warden\.events\.[a-z]+\.\*\.([a-z_]+)"/g)) {
      const set = out.get(m[1]!) ?? new Set<string>();
      set.add(user);
      out.set(m[1]!, set);
    }
  }
  return out;
}

/** The rows of the event-producer table in a markdown file (the first table after its heading). */
function tableRows(file: string): Map<string, string> {
  const all = readFileSync(join(ROOT, file), 'utf8');
  const at = all.search(/^\| type \| producer \|/m);
  const text = all.slice(at, all.indexOf('\n\n', at));
  const rows = new Map<string, string>();
  for (const m of text.matchAll(/^\| `([a-z_]+)` \| (ingest|policy|orchestrator|approvals|workers) \|/gm)) {
    rows.set(m[1]!, m[2]!);
  }
  return rows;
}

describe('one producer per event type, everywhere it is written down', () => {
  it('deploy/nats/nats-prod.conf lets exactly that producer publish each type', () => {
    const byType = publishersByType();
    for (const type of EVENT_TYPES)
      expect([type, [...(byType.get(type) ?? [])]]).toEqual([type, [EVENT_PRODUCERS[type]]]);
  });

  it.each(['docs/security.md', 'docs/contract.md'])('the table in %s matches EVENT_PRODUCERS', (file) => {
    const rows = tableRows(file);
    expect(Object.fromEntries(rows)).toEqual(EVENT_PRODUCERS);
  });
});
