import { Controller, Get } from '@nestjs/common';
import {
  BEARER_SECURITY,
  healthPaths,
  jsonBody,
  jsonResponse,
  openApiComponents,
  jsonSchemaOf,
  pathParam,
  problemResponses,
  queryParams,
} from '@warden/runtime';
import { ListQuery as ReviewsQuery, ResolveBody } from '../../review/http/reviews.controller';
import { ApprovalPage, ApprovalResponse, CreatedOperatorResponse, ReviewResponse } from './approval.schemas';
import { ApproveBody, ListQuery as ApprovalsQuery, RejectBody } from './approvals.controller';
import { CreateOperator, RevokeBody as RevokeOperatorBody } from './operators.controller';
import { ListQuery as StandingQuery, RevokeBody as RevokeStandingBody } from './standing.controller';

/** What 403 and 409 mean on this API (the other statuses keep the shared descriptions). */
const FORBIDDEN = [403, 'role, tier or identity not allowed'] as const;
const CONFLICT = [409, 'already decided / voted / revoked'] as const;

const Approval = { $ref: '#/components/schemas/Approval' };
const Review = { $ref: '#/components/schemas/Review' };

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden approvals', version: '1' },
  components: openApiComponents('operator token (wop_…)', {
    Approval: jsonSchemaOf(ApprovalResponse),
    Review: jsonSchemaOf(ReviewResponse),
  }),
  paths: {
    '/v1/approvals': {
      get: {
        summary: 'List approvals, newest first (viewer)',
        security: BEARER_SECURITY,
        parameters: queryParams(ApprovalsQuery, { cursor: 'next_cursor of the previous page' }),
        responses: {
          '200': jsonResponse('a page', ApprovalPage),
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
        requestBody: jsonBody(ApproveBody, false),
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
        requestBody: jsonBody(RejectBody, false),
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
        requestBody: jsonBody(CreateOperator),
        responses: {
          '201': jsonResponse('created', CreatedOperatorResponse),
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
        requestBody: jsonBody(RevokeOperatorBody, false),
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
        parameters: queryParams(StandingQuery),
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
        requestBody: jsonBody(RevokeStandingBody, false),
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
        parameters: queryParams(ReviewsQuery),
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
        requestBody: jsonBody(ResolveBody, false),
        responses: { '200': jsonResponse('resolved', Review), ...problemResponses(401, FORBIDDEN, 404, CONFLICT) },
      },
    },
    '/v1/reviews/{id}/flag': {
      post: {
        summary: "Flag (approver): proposes the tool's compensating action as a new, policy-checked run",
        security: BEARER_SECURITY,
        parameters: [pathParam('id')],
        requestBody: jsonBody(ResolveBody, false),
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
