import { Controller, Get } from '@nestjs/common';

const problem = { $ref: '#/components/schemas/Problem' };
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description:
          {
            400: 'invalid input',
            401: 'no valid token',
            403: 'role, tier or identity not allowed',
            404: 'unknown',
            409: 'already decided / voted / revoked',
          }[c] ?? 'error',
        content: { 'application/problem+json': { schema: problem } },
      },
    ]),
  );
const bearer = [{ bearer: [] }];
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
const body = (schema: unknown) => ({ required: false, content: json(schema) });
const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });

const Approval = { $ref: '#/components/schemas/Approval' };
const Review = { $ref: '#/components/schemas/Review' };

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden approvals', version: '1' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'operator token (wop_…)' } },
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
            items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
      Approval: {
        type: 'object',
        required: ['id', 'run_id', 'tier', 'status', 'required_votes', 'votes', 'expires_at', 'action', 'decision'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          run_id: { type: 'string', format: 'uuid' },
          tier: { type: 'integer', minimum: 1, maximum: 3 },
          status: { enum: ['pending', 'granted', 'rejected', 'expired'] },
          required_votes: { type: 'integer' },
          votes: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                operator: { type: 'string' },
                vote: { enum: ['approve', 'reject'] },
                comment: { type: 'string' },
                at: { type: 'string', format: 'date-time' },
                channel: { enum: ['rest', 'slack', 'dashboard', 'cli'] },
              },
            },
          },
          expires_at: { type: 'string', format: 'date-time' },
          created_at: { type: 'string', format: 'date-time' },
          closed_at: { type: 'string', format: 'date-time' },
          closed_reason: { type: 'string' },
          agent: { type: 'object', properties: { id: { type: 'string' }, role: { type: 'string' } } },
          session_id: { type: 'string' },
          action: { type: 'object', properties: { tool: { type: 'string' }, args: { type: 'object' } } },
          decision: { type: 'object', description: 'the Decision (CONTRACT §4)' },
          reasons: { type: 'array', items: { type: 'string' } },
          action_hash: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
          policy_digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
          trace_id: { type: 'string' },
        },
      },
      Review: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          run_id: { type: 'string', format: 'uuid' },
          status: { enum: ['pending', 'fine', 'flagged'] },
          action: { type: 'object' },
          result: { type: 'object' },
          output_hash: { type: 'string' },
          compensation_action: { type: ['object', 'null'] },
          resolution: { type: ['object', 'null'] },
        },
      },
    },
  },
  paths: {
    '/v1/approvals': {
      get: {
        summary: 'List approvals, newest first (viewer)',
        security: bearer,
        parameters: [
          { name: 'status', in: 'query', schema: { enum: ['pending', 'granted', 'rejected', 'expired'] } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: {
          '200': ok('a page', {
            type: 'object',
            properties: { items: { type: 'array', items: Approval }, next_cursor: { type: 'string' } },
          }),
          ...errors(400, 401, 403),
        },
      },
    },
    '/v1/approvals/{id}': {
      get: {
        summary: 'One approval (viewer)',
        security: bearer,
        parameters: [idParam('id')],
        responses: { '200': ok('the approval', Approval), ...errors(401, 403, 404) },
      },
    },
    '/v1/approvals/{id}/approve': {
      post: {
        summary: 'Approve (approver whose max_tier covers the tier; never the requesting agent)',
        security: bearer,
        parameters: [idParam('id')],
        requestBody: body({
          type: 'object',
          additionalProperties: false,
          properties: {
            comment: { type: 'string', maxLength: 2000 },
            standing: {
              type: 'object',
              required: ['scope', 'ttl_seconds'],
              properties: { scope: { enum: ['session', 'agent'] }, ttl_seconds: { type: 'integer', minimum: 1 } },
            },
          },
        }),
        responses: { '200': ok('the approval after the vote', Approval), ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/v1/approvals/{id}/reject': {
      post: {
        summary: 'Reject (approver); one reject closes the approval',
        security: bearer,
        parameters: [idParam('id')],
        requestBody: body({
          type: 'object',
          additionalProperties: false,
          properties: { comment: { type: 'string' }, reason: { type: 'string', description: 'alias of comment' } },
        }),
        responses: { '200': ok('the approval after the vote', Approval), ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/v1/operators': {
      post: {
        summary: 'Create an operator (admin); the token is shown once',
        security: bearer,
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            required: ['name', 'roles', 'max_tier'],
            properties: {
              name: { type: 'string' },
              roles: { type: 'array', items: { enum: ['viewer', 'approver', 'admin'] } },
              max_tier: { type: 'integer', minimum: 1, maximum: 3 },
              slack_user_id: { type: 'string' },
            },
          }),
        },
        responses: {
          '201': ok('created', {
            type: 'object',
            properties: { id: { type: 'string' }, token: { type: 'string' } },
          }),
          ...errors(400, 401, 403),
        },
      },
      get: {
        summary: 'List operators (admin; never tokens)',
        security: bearer,
        responses: { '200': ok('operators', { type: 'object' }), ...errors(401, 403) },
      },
    },
    '/v1/operators/{id}/revoke': {
      post: {
        summary: 'Revoke an operator (admin)',
        security: bearer,
        parameters: [idParam('id')],
        responses: { '200': ok('revoked', { type: 'object' }), ...errors(401, 403, 404, 409) },
      },
    },
    '/v1/standing-approvals': {
      get: {
        summary: 'Active standing approvals (viewer); ?all=true includes expired and revoked',
        security: bearer,
        parameters: [{ name: 'all', in: 'query', schema: { enum: ['true', 'false'] } }],
        responses: { '200': ok('standing approvals', { type: 'object' }), ...errors(401, 403) },
      },
    },
    '/v1/standing-approvals/{id}/revoke': {
      post: {
        summary: 'Revoke a standing approval (approver)',
        security: bearer,
        parameters: [idParam('id')],
        responses: { '200': ok('revoked', { type: 'object' }), ...errors(401, 403, 404, 409) },
      },
    },
    '/v1/reviews': {
      get: {
        summary: 'Review items (act now, review later), newest first (viewer)',
        security: bearer,
        parameters: [{ name: 'status', in: 'query', schema: { enum: ['pending', 'fine', 'flagged'] } }],
        responses: {
          '200': ok('review items', { type: 'object', properties: { items: { type: 'array', items: Review } } }),
          ...errors(400, 401, 403),
        },
      },
    },
    '/v1/reviews/{id}': {
      get: {
        summary: 'One review item (viewer)',
        security: bearer,
        parameters: [idParam('id')],
        responses: { '200': ok('the item', Review), ...errors(401, 403, 404) },
      },
    },
    '/v1/reviews/{id}/fine': {
      post: {
        summary: 'Mark fine (approver)',
        security: bearer,
        parameters: [idParam('id')],
        responses: { '200': ok('resolved', Review), ...errors(401, 403, 404, 409) },
      },
    },
    '/v1/reviews/{id}/flag': {
      post: {
        summary: "Flag (approver): proposes the tool's compensating action as a new, policy-checked run",
        security: bearer,
        parameters: [idParam('id')],
        responses: { '200': ok('resolved', Review), ...errors(401, 403, 404, 409) },
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
};

/** The approvals API's routes (CONTRACT §3). Other modules of this service may add their paths. */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof DOCUMENT {
    return DOCUMENT;
  }
}

/** Lets another module of this service (Slack, dashboard) list its routes in `/openapi.json`. */
export function addOpenApiPaths(paths: Record<string, unknown>): void {
  Object.assign(DOCUMENT.paths, paths);
}
