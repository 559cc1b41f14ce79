import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EVENT_TYPES, isDirectoryEvent } from '@warden/contracts';
import { buildDocuments, diffDocs, serialize, writeDocs } from './generate-contracts';

type Json = Record<string, unknown>;

function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => collectRefs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else collectRefs(v, out);
    }
  }
  return out;
}

function resolvePointer(doc: unknown, pointer: string): unknown {
  return pointer
    .replace(/^#\//, '')
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}

describe('generate-contracts', () => {
  const docs = buildDocuments() as Record<string, Json>;
  const asyncapi = docs['asyncapi.json'] as Json;

  it('is deterministic', () => {
    const again = buildDocuments() as Record<string, Json>;
    expect(Object.keys(again)).toEqual(Object.keys(docs));
    for (const k of Object.keys(docs)) expect(serialize(again[k])).toBe(serialize(docs[k]));
  });

  it('writes a schema for each top-level contract and for every event type', () => {
    for (const name of ['TaskSubmission', 'Decision', 'ExecuteCommand', 'RunResult', 'Envelope']) {
      expect(docs[`schemas/${name}.schema.json`]).toMatchObject({
        $schema: 'http://json-schema.org/draft-07/schema#',
        title: name,
      });
    }
    for (const type of EVENT_TYPES) expect(docs[`schemas/events/${type}.schema.json`]).toBeDefined();
  });

  it('describes a submission as the services accept it: required fields, unknown fields refused', () => {
    const s = docs['schemas/TaskSubmission.schema.json']!;
    expect(s.required).toEqual(['agent', 'action']);
    expect(s.additionalProperties).toBe(false);
    const tool = (((s.properties as Json).action as Json).properties as Json).tool as Json;
    // upstream MCP tools keep their own spelling after the namespace (contract §7)
    expect(tool.pattern).toBe('^[a-z][a-z0-9_]*\\.[A-Za-z0-9_.-]+$');
  });

  it('resolves every $ref in the AsyncAPI document (internal pointers and schema files)', () => {
    const refs = collectRefs(asyncapi);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) {
      if (ref.startsWith('#/'))
        expect({ ref, found: resolvePointer(asyncapi, ref) !== undefined }).toEqual({ ref, found: true });
      else expect({ ref, found: Boolean(docs[ref.replace(/^\.\//, '')]) }).toEqual({ ref, found: true });
    }
  });

  it('has the public subjects of the contract, with Nats-Msg-Id and traceparent headers', () => {
    const channels = asyncapi.channels as Record<string, Json>;
    const addresses = Object.values(channels).map((c) => c.address);
    expect(asyncapi.asyncapi).toBe('3.0.0');
    expect(addresses).toContain('warden.ingest.tasks');
    expect(addresses).toContain('warden.events.rejected.{token}.task_rejected');
    expect(addresses).toContain('warden.cmd.workers.{role}.execute');
    for (const type of EVENT_TYPES.filter((t) => t !== 'task_rejected')) {
      expect(addresses).toContain(
        isDirectoryEvent(type)
          ? `warden.events.directory.{entity_id}.${type}`
          : type.startsWith('dead_letter_')
            ? `warden.events.deadletter.{dlq_seq}.${type}`
            : `warden.events.run.{run_id}.${type}`,
      );
    }
    expect(addresses).toContain('warden.events.refused.{refusal}.command_refused');
    const headers = resolvePointer(asyncapi, '#/components/schemas/EventHeaders') as Json;
    expect(headers.required).toEqual(['Nats-Msg-Id', 'traceparent']);
    const messages = (asyncapi.components as Json).messages as Record<string, Json>;
    for (const type of EVENT_TYPES)
      expect(messages[type]!.headers).toEqual({ $ref: '#/components/schemas/EventHeaders' });
  });

  describe('check and write', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-docs-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reports missing, changed and stale files, and a write fixes all of them', () => {
      expect(diffDocs(docs, dir)).toContain('missing: docs/asyncapi.json');
      writeDocs(docs, dir);
      expect(diffDocs(docs, dir)).toEqual([]);

      fs.appendFileSync(path.join(dir, 'schemas', 'Decision.schema.json'), ' ');
      fs.rmSync(path.join(dir, 'schemas', 'events', 'run_started.schema.json'));
      fs.writeFileSync(path.join(dir, 'schemas', 'events', 'run_exploded.schema.json'), '{}\n');
      expect(diffDocs(docs, dir).sort()).toEqual([
        'missing: docs/schemas/events/run_started.schema.json',
        'out of date: docs/schemas/Decision.schema.json',
        'stale (no longer generated): docs/schemas/events/run_exploded.schema.json',
      ]);

      writeDocs(docs, dir);
      expect(diffDocs(docs, dir)).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'schemas', 'events', 'run_exploded.schema.json'))).toBe(false);
    });
  });
});
