import { Controller, Get } from '@nestjs/common';

const problem = {
  description: 'RFC 9457 problem',
  content: {
    'application/problem+json': {
      schema: {
        type: 'object',
        required: ['type', 'title', 'status'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          errors: {
            type: 'array',
            items: {
              type: 'object',
              required: ['path', 'message'],
              properties: { path: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
      },
    },
  },
} as const;

const bundleInfo = {
  type: 'object',
  required: ['version', 'digest', 'activated_at'],
  properties: {
    version: { type: 'string' },
    digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
    activated_at: { type: 'string', format: 'date-time' },
  },
} as const;

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const auth = [{ bearer: [] }];
const errors = { '401': problem, '403': problem } as const;

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden policy', version: '2' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'operator token or API key' } },
  },
  paths: {
    '/v1/policy': {
      get: {
        summary: 'The active policy bundle',
        responses: {
          '200': json(bundleInfo, 'Version, digest and activation time of the bundle this replica judges by'),
        },
      },
      put: {
        summary: 'Validate, store and activate a bundle on every replica (admin)',
        security: auth,
        requestBody: {
          required: true,
          content: {
            'application/yaml': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'object' } },
          },
        },
        responses: {
          '200': json(bundleInfo, 'Activated'),
          '400': { ...problem, description: 'Invalid bundle: every error with its path (and YAML line)' },
          ...errors,
        },
      },
    },
    '/v1/policy/active': {
      put: {
        summary: 'Activate a stored bundle by digest: rollback (admin)',
        security: auth,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', required: ['digest'], properties: { digest: { type: 'string' } } },
            },
          },
        },
        responses: { '200': json(bundleInfo, 'Activated'), '404': problem, ...errors },
      },
    },
    '/v1/policy/bundles': {
      get: {
        summary: 'Stored bundles, newest first (viewer)',
        security: auth,
        responses: { '200': json({ type: 'array' }, 'Bundles'), ...errors },
      },
    },
    '/v1/policy/bundles/{digest}': {
      get: {
        summary: "A stored bundle's source (viewer)",
        security: auth,
        parameters: [{ name: 'digest', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json({ type: 'object' }, 'digest, version, source'), '404': problem, ...errors },
      },
    },
    '/v1/policy/whatif': {
      post: {
        summary: 'Evaluate a candidate bundle over recorded decisions; activates nothing (admin)',
        security: auth,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['bundle'],
                properties: {
                  bundle: { oneOf: [{ type: 'string' }, { type: 'object' }] },
                  since: { type: 'string', description: '24h, 90m, 7d or an ISO time (default 24h)' },
                  limit: { type: 'integer', minimum: 1, maximum: 100000 },
                },
              },
            },
          },
        },
        responses: {
          '200': json({ type: 'object' }, 'evaluated, unchanged, changed, transitions {"deny→allow": n}, examples'),
          '400': problem,
          ...errors,
        },
      },
    },
    '/v1/policy/replay': {
      post: {
        summary: 'Replay recorded decisions under their recorded digests (viewer)',
        security: auth,
        responses: { '200': json({ type: 'object' }, 'replayed, identical, different[]'), ...errors },
      },
    },
    '/v1/decisions/{run_id}/replay': {
      get: {
        summary: "Re-evaluate one run's recorded input under its recorded bundle (viewer)",
        security: auth,
        parameters: [{ name: 'run_id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: { '200': json({ type: 'object' }, 'identical, differences, replayed'), '404': problem, ...errors },
      },
    },
    '/v1/evaluate': {
      post: {
        summary: 'Dry run: the Decision that would be made now; changes nothing (API key or viewer)',
        security: auth,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: 'TaskSubmission.schema.json' } } },
        },
        responses: {
          '200': json({ $ref: 'Decision.schema.json' }, 'The decision (unsigned)'),
          '400': problem,
          ...errors,
        },
      },
    },
    '/health/live': { get: { summary: 'Liveness', responses: { '200': { description: 'alive' } } } },
    '/health/ready': {
      get: {
        summary: 'Readiness of NATS, Postgres and Redis',
        responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } },
    },
  },
} as const;

/** The policy API's routes (CONTRACT §3). */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof DOCUMENT {
    return DOCUMENT;
  }
}
