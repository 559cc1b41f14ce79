import { Controller, Get } from '@nestjs/common';

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const json = (description: string, schema: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema } },
});
const admin = [{ bearer: [] }];
const Accepted = {
  type: 'object',
  required: ['run_id', 'status', 'duplicate'],
  properties: {
    run_id: { type: 'string', format: 'uuid' },
    status: { const: 'received' },
    duplicate: { const: false },
  },
};
const Duplicate = {
  type: 'object',
  required: ['run_id', 'duplicate'],
  properties: { run_id: { type: 'string', format: 'uuid' }, duplicate: { const: true } },
};
const submissionBody = {
  required: true,
  content: {
    'application/json': {
      schema: {
        $ref: 'https://warden.dev/schemas/TaskSubmission.schema.json',
        description: 'docs/schemas/TaskSubmission.schema.json',
      },
    },
  },
};
const Key = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    owner: { type: 'string' },
    status: { enum: ['active', 'rotating', 'expired', 'revoked'] },
    created_at: { type: 'string', format: 'date-time' },
    created_by: { type: 'string' },
    last_used_at: { type: ['string', 'null'], format: 'date-time' },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
    revoked_at: { type: ['string', 'null'], format: 'date-time' },
    replaced_by: { type: ['string', 'null'], format: 'uuid' },
  },
};
const CreatedKey = {
  type: 'object',
  required: ['id', 'key'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    key: { type: 'string', description: 'wk_… shown once; only its SHA-256 is stored' },
    name: { type: 'string' },
    owner: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
  },
};
const keyId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const sourceName = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
};

/** The ingest API (CONTRACT §3), served at `GET /openapi.json`. */
export const INGEST_OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Warden ingest', version: '1' },
  components: {
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description: 'API key (wk_…) for /v1/tasks; admin operator token elsewhere',
      },
    },
    schemas: {
      Problem: {
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
  paths: {
    '/v1/tasks': {
      post: {
        summary: 'Submit a proposed action',
        security: [{ bearer: [] }],
        parameters: [{ name: 'traceparent', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: submissionBody,
        responses: {
          '202': json('Accepted: durably handed off (task_received acked by JetStream)', Accepted),
          '200': json("Duplicate: same agent + idempotency_key as an earlier run; that run's id", Duplicate),
          '400': problem('Invalid submission: errors[] with path and message'),
          '401': problem('Missing, unknown, expired or revoked API key'),
          '403': problem('An operator token: this route takes API keys'),
          '409': problem('run_id already belongs to another submission'),
          '413': problem('Body over 256 KiB (refused while streaming)'),
          '415': problem('Not application/json, or a content-encoding'),
          '429': problem("Over the key's rate limit; see Retry-After (seconds)"),
          '503': problem('Storage or bus unavailable; retry with the same idempotency_key'),
        },
      },
    },
    '/v1/webhooks/{source}': {
      post: {
        summary: 'A Standard Webhooks delivery whose body is a TaskSubmission',
        parameters: [
          { name: 'source', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'webhook-id', in: 'header', required: true, schema: { type: 'string' } },
          {
            name: 'webhook-timestamp',
            in: 'header',
            required: true,
            schema: { type: 'string', description: 'seconds since the epoch, ±5 minutes' },
          },
          {
            name: 'webhook-signature',
            in: 'header',
            required: true,
            schema: { type: 'string', description: 'space-separated v1,<base64 HMAC-SHA256 of id.timestamp.body>' },
          },
        ],
        requestBody: submissionBody,
        responses: {
          '202': json('Accepted', Accepted),
          '200': json("A replayed webhook-id (or a duplicate idempotency key): the first run's id", Duplicate),
          '400': problem('Invalid submission'),
          '401': problem('Unknown source, bad signature, or timestamp outside ±5 minutes'),
          '413': problem('Body over 256 KiB'),
          '503': problem('Storage or bus unavailable; retry'),
        },
      },
    },
    '/v1/webhooks/sources': {
      get: {
        summary: 'Webhook sources (admin)',
        security: admin,
        responses: {
          '200': { description: '{sources: [{name, created_at, created_by, secrets: [{created_at, expires_at}]}]}' },
        },
      },
      post: {
        summary: 'Create a webhook source (admin); its secret is shown once',
        security: admin,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
            },
          },
        },
        responses: {
          '201': json('Created', {
            type: 'object',
            properties: { name: { type: 'string' }, secret: { type: 'string', description: 'whsec_<base64>' } },
          }),
          '400': problem('Invalid name'),
          '409': problem('A source with this name exists'),
        },
      },
    },
    '/v1/webhooks/sources/{name}/rotate': {
      post: {
        summary: "Rotate a source's secret (admin); the previous secret stays valid for the grace period",
        security: admin,
        parameters: [sourceName],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: { type: 'object', properties: { grace_seconds: { type: 'integer', default: 86400 } } },
            },
          },
        },
        responses: {
          '200': json('The new secret', {
            type: 'object',
            properties: {
              name: { type: 'string' },
              secret: { type: 'string' },
              previous_valid_until: { type: 'string', format: 'date-time' },
            },
          }),
          '404': problem('No such source'),
        },
      },
    },
    '/v1/webhooks/sources/{name}': {
      delete: {
        summary: 'Delete a source (admin)',
        security: admin,
        parameters: [sourceName],
        responses: { '204': { description: 'Deleted' }, '404': problem('No such source') },
      },
    },
    '/v1/keys': {
      get: {
        summary: 'API keys (admin)',
        security: admin,
        responses: {
          '200': json('Every key (never the key itself)', {
            type: 'object',
            properties: { keys: { type: 'array', items: Key } },
          }),
        },
      },
      post: {
        summary: 'Create an API key (admin); the key is shown once',
        security: admin,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name', 'owner'],
                properties: {
                  name: { type: 'string' },
                  owner: { type: 'string' },
                  expires_at: { type: 'string', format: 'date-time' },
                },
              },
            },
          },
        },
        responses: {
          '201': json('Created', CreatedKey),
          '400': problem('Invalid input'),
          '401': problem('No valid token'),
          '403': problem('Not an admin'),
        },
      },
    },
    '/v1/keys/{id}/revoke': {
      post: {
        summary: 'Revoke a key (admin): refused by every ingest replica within 5 s',
        security: admin,
        parameters: [keyId],
        responses: {
          '200': json('Revoked', {
            type: 'object',
            properties: { id: { type: 'string' }, revoked_at: { type: 'string', format: 'date-time' } },
          }),
          '404': problem('No such key'),
          '409': problem('Already revoked'),
        },
      },
    },
    '/v1/keys/{id}/rotate': {
      post: {
        summary: 'Rotate a key (admin): a new key now, the old one valid for grace_seconds (default 24 h)',
        security: admin,
        parameters: [keyId],
        requestBody: {
          required: false,
          content: {
            'application/json': { schema: { type: 'object', properties: { grace_seconds: { type: 'integer' } } } },
          },
        },
        responses: {
          '201': json('The new key', CreatedKey),
          '404': problem('No such key'),
          '409': problem('Already revoked'),
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

@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof INGEST_OPENAPI {
    return INGEST_OPENAPI;
  }
}
