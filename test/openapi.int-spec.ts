import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { SERVICES, System, type ServiceName } from './support/system';

const ADMIN = 'openapi-drift-admin-token-0123456789';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

/** What an express 5 router layer looks like, as far as routes go. */
interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  name?: string;
  handle?: { stack?: Layer[] };
}

/**
 * `:param` → `{param}`, express 5 wildcards (`*name`, `{*name}`) → `{name}`, no trailing slash. Param
 * names are then blanked for matching: `/v1/runs/:runId` and `/v1/runs/{run_id}` are the same route
 * (the document names parameters as the contract does; controllers pick their own variable names).
 */
function templatePath(p: string): string {
  const t = p
    .replace(/\{\*([A-Za-z0-9_]+)\}/g, '{$1}')
    .replace(/\*([A-Za-z0-9_]+)/g, '{$1}')
    .replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    .replace(/(.)\/$/, '$1');
  return t === '' ? '/' : t;
}
const routeKey = (method: string, p: string) =>
  `${method.toUpperCase()} ${templatePath(p).replace(/\{[^}]*\}/g, '{}')}`;

/** The routes Nest registered on the express instance (method + path), HEAD/OPTIONS helpers left out. */
function registeredRoutes(app: INestApplication): Set<string> {
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: Layer[] }; _router?: { stack: Layer[] } };
  const root = express.router ?? express._router;
  if (!root) throw new Error('no express router: is this still the express adapter?');
  const out = new Set<string>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (!on || method === '_all') continue;
          for (const p of paths) out.add(routeKey(method, p));
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk(root.stack);
  // the document itself need not list itself
  out.delete(routeKey('get', '/openapi.json'));
  return out;
}

/** The routes docs/contract.md §1 and §3 promise, per service: each must be registered and documented. */
const CONTRACT_ROUTES: Record<ServiceName, string[]> = {
  ingest: [
    'POST /v1/tasks',
    'POST /v1/webhooks/{source}',
    'POST /v1/webhooks/sources',
    'POST /v1/webhooks/sources/{name}/rotate',
    'POST /v1/keys',
    'GET /v1/keys',
    'POST /v1/keys/{id}/revoke',
  ],
  policy: ['POST /v1/evaluate', 'GET /v1/policy', 'PUT /v1/policy'],
  orchestrator: ['GET /v1/runs', 'GET /v1/runs/{run_id}', 'POST /v1/runs/{run_id}/cancel'],
  approvals: [
    'GET /v1/approvals',
    'GET /v1/approvals/{id}',
    'POST /v1/approvals/{id}/approve',
    'POST /v1/approvals/{id}/reject',
    'POST /v1/operators',
    'GET /v1/standing-approvals',
    'POST /v1/standing-approvals/{id}/revoke',
    'POST /slack/interactions',
    'POST /slack/commands',
    'GET /',
  ],
  workers: [],
};
const EVERY_SERVICE = ['GET /health/live', 'GET /health/ready', 'GET /metrics'];

interface OpenApiDocument {
  openapi?: string;
  paths?: Record<string, Record<string, unknown>>;
}

/**
 * The document checked against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator, an ESM
 * package: run in a child node, which Jest's CommonJS loader need not load).
 */
function validateOpenApi(doc: unknown): { valid: boolean; errors?: unknown } {
  const script = [
    "import { Validator } from '@seriousme/openapi-schema-validator';",
    "let text = '';",
    'for await (const chunk of process.stdin) text += chunk;',
    'process.stdout.write(JSON.stringify(await new Validator().validate(JSON.parse(text))));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: resolve(__dirname, '..'),
    input: JSON.stringify(doc),
  });
  return JSON.parse(out.toString()) as { valid: boolean; errors?: unknown };
}

function documentedRoutes(doc: OpenApiDocument): Set<string> {
  const out = new Set<string>();
  for (const [p, item] of Object.entries(doc.paths ?? {})) {
    for (const m of METHODS) if (item[m]) out.add(routeKey(m, p));
  }
  out.delete(routeKey('get', '/openapi.json'));
  return out;
}

describe('OpenAPI documents match the routes each service registers (drift)', () => {
  let t: TestEnv;
  let sys: System;
  let workspace: string;

  beforeAll(async () => {
    t = await createTestEnv();
    workspace = mkdtempSync(join(tmpdir(), 'warden-openapi-'));
    sys = new System(t, { WARDEN_WORKSPACE: workspace, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('maps express paths to OpenAPI templates', () => {
    expect(templatePath('/v1/runs/:runId/cancel')).toBe('/v1/runs/{runId}/cancel');
    expect(templatePath('/v1/files/*path')).toBe('/v1/files/{path}');
    expect(templatePath('/assets/{*rest}')).toBe('/assets/{rest}');
    expect(templatePath('/v1/runs/')).toBe('/v1/runs');
    expect(templatePath('/')).toBe('/');
    expect(routeKey('get', '/v1/runs/:runId')).toBe(routeKey('get', '/v1/runs/{run_id}'));
    expect(routeKey('get', '/v1/runs/:runId')).not.toBe(routeKey('post', '/v1/runs/{run_id}'));
    expect(routeKey('get', '/v1/runs/:runId')).not.toBe(routeKey('get', '/v1/runs/{run_id}/cancel'));
  });

  // one service per test, started on its own: a service that fails to start fails only its test
  it.each(SERVICES)('%s: every registered route is documented and every documented route exists', async (name) => {
    const app = await sys.start(name as ServiceName);
    const registered = registeredRoutes(app);
    const promised = [...EVERY_SERVICE, ...CONTRACT_ROUTES[name as ServiceName]].map((r) => {
      const [method, p] = r.split(' ');
      return routeKey(method!, p!);
    });
    // sanity (the walk finds routes at all) and the contract: promised routes are served
    expect(promised.filter((r) => !registered.has(r))).toEqual([]);

    const res = await fetch(`${sys.url(name as ServiceName)}/openapi.json`);
    const hasDoc = res.status === 200;
    if (!hasDoc) {
      expect(res.status).toBe(404);
      // no document: then it must have no API of its own
      expect([...registered].filter((r) => / \/v1(\/|$)/.test(r))).toEqual([]);
      return;
    }
    const doc = (await res.json()) as OpenApiDocument;
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect({ service: name, ...validateOpenApi(doc) }).toEqual({ service: name, valid: true });
    const documented = documentedRoutes(doc);
    const undocumented = [...registered].filter((r) => !documented.has(r)).sort();
    const unregistered = [...documented].filter((r) => !registered.has(r)).sort();
    // both lists in one assertion, so a failure names every missing route at once
    expect({ service: name, undocumented, unregistered }).toEqual({
      service: name,
      undocumented: [],
      unregistered: [],
    });
    await sys.stop(name as ServiceName);
  });
});
