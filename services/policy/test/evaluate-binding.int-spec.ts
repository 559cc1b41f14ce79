import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { newId, newTraceId } from '@warden/kernel';
import { newSecret, secretHash } from '@warden/identity';
import { testPublisher, waitFor } from '@warden/testing';
import { startPolicyWorld, type PolicyWorld } from './support/policy-world';

/**
 * `POST /v1/evaluate` holds API keys to their binding like `POST /v1/tasks`: a bound key naming
 * another agent id or role is 403 `KEY.AGENT_MISMATCH`; an unbound key is answered with a deprecation
 * warning. Keys come from signed `api_key_created` directory events, as ingest publishes them.
 */
let world: PolicyWorld;
let publisher: Publisher;
let url: string;

async function key(binding: Record<string, unknown>): Promise<string> {
  const secret = newSecret('wk');
  const keyId = newId();
  await publisher.publishEvent(
    makeEnvelope({
      type: 'api_key_created',
      runId: null,
      correlationId: keyId,
      producer: 'test',
      traceId: newTraceId(),
      data: { key_id: keyId, name: 'k', owner: 'tests', key_hash: secretHash(secret), created_by: 'test', ...binding },
    }),
  );
  // the directory replay reaches the key
  await waitFor(async () => (await evaluate(secret, { id: 'probe', role: 'dev' })).status !== 401, 'key known');
  return secret;
}

function evaluate(token: string, agent: { id: string; role: string }) {
  return fetch(`${url}/v1/evaluate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, action: { tool: 'fs.read_file', args: { path: 'README.md' } } }),
  });
}

beforeAll(async () => {
  world = await startPolicyWorld('int-binding.1');
  publisher = testPublisher(world.t);
  url = `http://127.0.0.1:${(world.app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await world?.close();
});

describe('POST /v1/evaluate with API keys', () => {
  it('a bound key evaluates for its agent; another id or role is 403 with field paths', async () => {
    const bound = await key({ agent: { id: 'agent-eval', role: 'dev' } });
    const ok = await evaluate(bound, { id: 'agent-eval', role: 'dev' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('deprecation')).toBeNull();
    const other = await evaluate(bound, { id: 'agent-eval', role: 'ops' });
    expect(other.status).toBe(403);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await other.json()) as { title: string; errors: { path: string }[] };
    expect(body.title).toBe('KEY.AGENT_MISMATCH');
    expect(body.errors.map((e) => e.path)).toEqual(['agent.role']);
  });

  it('a harness key admits its pattern and roles only', async () => {
    const harness = await key({ roles: ['dev'], agent_pattern: 'h-*' });
    expect((await evaluate(harness, { id: 'h-1', role: 'dev' })).status).toBe(200);
    const outside = await evaluate(harness, { id: 'x-1', role: 'dev' });
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['agent.id']);
  });

  it('an unbound key is still answered, with Deprecation and Warning headers', async () => {
    const legacy = await key({});
    const r = await evaluate(legacy, { id: 'anyone', role: 'ops' });
    expect(r.status).toBe(200);
    expect(r.headers.get('deprecation')).toBe('true');
    expect(r.headers.get('warning')).toMatch(/^299 - "API key is not bound to an agent/);
  });
});
