import { Controller, Get } from '@nestjs/common';
import {
  BEARER_SECURITY,
  healthPaths,
  jsonBody,
  jsonResponse,
  openApiComponents,
  pathParam,
  problemResponses,
  queryParam,
} from '@warden/runtime';

/** What 403 and 409 mean on this API (the other statuses keep the shared descriptions). */
const FORBIDDEN = [403, 'role, tier or identity not allowed'] as const;
const CONFLICT = [409, 'already decided / voted / revoked'] as const;

const Approval = { $ref: '#/components/schemas/Approval' };
const Review = { $ref: '#/components/schemas/Review' };

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden approvals', version: '1' },
  components: openApiComponents('operator token (wop_…)', {
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
              operator_id: { type: 'string' },
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
        voided: {
          const: true,
          description: 'granted, then refused by the orchestrator (shown as rejected, with its reason)',
        },
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
  }),
  paths: {
    '/v1/approvals': {
      get: {
        summary: 'List approvals, newest first (viewer)',
        security: BEARER_SECURITY,
        parameters: [
          queryParam('status', { enum: ['pending', 'granted', 'rejected', 'expired'] }),
          queryParam('limit', { type: 'integer', minimum: 1, maximum: 200, default: 50 }),
          queryParam('cursor', { type: 'string' }),
        ],
        responses: {
          '200': jsonResponse('a page', {
            type: 'object',
            properties: { items: { type: 'array', items: Approval }, next_cursor: { type: 'string' } },
          }),
          ...problemResponses(400, 401, FORBIDDEN),
        },
      },
    },
    '/v1/approvals/{id}': {
      get: {
        summary: 'One approval (viewer)',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        responses: { '200': jsonResponse('the approval', Approval), ...problemResponses(401, FORBIDDEN, 404) },
      },
    },
    '/v1/approvals/{id}/approve': {
      post: {
        summary: 'Approve (approver whose max_tier covers the tier; never the requesting agent)',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        requestBody: jsonBody(
          {
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
          },
          false,
        ),
        responses: {
          '200': jsonResponse('the approval after the vote', Approval),
          ...problemResponses(400, 401, FORBIDDEN, 404, CONFLICT),
        },
      },
    },
    '/v1/approvals/{id}/reject': {
      post: {
        summary: 'Reject (approver); one reject closes the approval',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        requestBody: jsonBody(
          {
            type: 'object',
            additionalProperties: false,
            properties: { comment: { type: 'string' }, reason: { type: 'string', description: 'alias of comment' } },
          },
          false,
        ),
        responses: {
          '200': jsonResponse('the approval after the vote', Approval),
          ...problemResponses(400, 401, FORBIDDEN, 404, CONFLICT),
        },
      },
    },
    '/v1/operators': {
      post: {
        summary: 'Create an operator (admin); the token is shown once',
        security: BEARER_SECURITY,
        requestBody: jsonBody({
          type: 'object',
          required: ['name', 'roles', 'max_tier'],
          properties: {
            name: { type: 'string' },
            roles: { type: 'array', items: { enum: ['viewer', 'approver', 'admin'] } },
            max_tier: { type: 'integer', minimum: 1, maximum: 3 },
            slack_user_id: { type: 'string' },
          },
        }),
        responses: {
          '201': jsonResponse('created', {
            type: 'object',
            properties: { id: { type: 'string' }, token: { type: 'string' } },
          }),
          ...problemResponses(400, 401, FORBIDDEN, [409, 'the Slack user is already linked to an active operator']),
        },
      },
      get: {
        summary: 'List operators (admin; never tokens)',
        security: BEARER_SECURITY,
        responses: { '200': jsonResponse('operators', { type: 'object' }), ...problemResponses(401, FORBIDDEN) },
      },
    },
    '/v1/operators/{id}/revoke': {
      post: {
        summary: 'Revoke an operator (admin)',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        responses: {
          '200': jsonResponse('revoked', { type: 'object' }),
          ...problemResponses(401, FORBIDDEN, 404, CONFLICT),
        },
      },
    },
    '/v1/standing-approvals': {
      get: {
        summary: 'Active standing approvals (viewer); ?all=true includes expired and revoked',
        security: BEARER_SECURITY,
        parameters: [queryParam('all', { enum: ['true', 'false'] })],
        responses: {
          '200': jsonResponse('standing approvals', { type: 'object' }),
          ...problemResponses(401, FORBIDDEN),
        },
      },
    },
    '/v1/standing-approvals/{id}/revoke': {
      post: {
        summary: 'Revoke a standing approval (approver)',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        responses: {
          '200': jsonResponse('revoked', { type: 'object' }),
          ...problemResponses(401, FORBIDDEN, 404, CONFLICT),
        },
      },
    },
    '/v1/reviews': {
      get: {
        summary: 'Review items (act now, review later), newest first (viewer)',
        security: BEARER_SECURITY,
        parameters: [queryParam('status', { enum: ['pending', 'fine', 'flagged'] })],
        responses: {
          '200': jsonResponse('review items', {
            type: 'object',
            properties: { items: { type: 'array', items: Review } },
          }),
          ...problemResponses(400, 401, FORBIDDEN),
        },
      },
    },
    '/v1/reviews/{id}': {
      get: {
        summary: 'One review item (viewer)',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        responses: { '200': jsonResponse('the item', Review), ...problemResponses(401, FORBIDDEN, 404) },
      },
    },
    '/v1/reviews/{id}/fine': {
      post: {
        summary: 'Mark fine (approver)',
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        responses: { '200': jsonResponse('resolved', Review), ...problemResponses(401, FORBIDDEN, 404, CONFLICT) },
      },
    },
    '/v1/reviews/{id}/flag': {
      post: {
        summary: "Flag (approver): proposes the tool's compensating action as a new, policy-checked run",
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        responses: { '200': jsonResponse('resolved', Review), ...problemResponses(401, FORBIDDEN, 404, CONFLICT) },
      },
    },
    ...healthPaths('NATS, Postgres and Redis'),
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
