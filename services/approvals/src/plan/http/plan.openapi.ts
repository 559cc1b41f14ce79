import { z } from 'zod';
import { BEARER_SECURITY, jsonBody, jsonResponse, pathParam, problemResponses, queryParam } from '@warden/runtime';
import { PlanVoteBody } from './plans.controller';

const Plan = {
  type: 'object',
  required: ['id', 'agent', 'count', 'status', 'created_at', 'items'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    agent: { type: 'object' },
    session_id: { type: 'string' },
    count: { type: 'integer' },
    intent: { type: 'string' },
    status: { enum: ['pending', 'decided'] },
    created_at: { type: 'string', format: 'date-time' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'run_id', 'action', 'action_hash', 'status'],
        properties: {
          index: { type: 'integer' },
          run_id: { type: 'string', format: 'uuid' },
          action: { type: 'object' },
          action_hash: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
          status: { type: 'string', description: "the run's status" },
          outcome: { type: 'string' },
          reason: { type: 'string' },
          approval: {
            type: 'object',
            description: "the item's own approval, when its decision escalated",
            properties: {
              id: { type: 'string', format: 'uuid' },
              status: { enum: ['pending', 'granted', 'rejected', 'expired'] },
              tier: { type: 'integer' },
              required_votes: { type: 'integer' },
              votes: { type: 'array', items: { type: 'object' } },
              expires_at: { type: 'string', format: 'date-time' },
              reasons: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
  },
};
const FORBIDDEN = [403, 'role, tier of an item, or the requesting agent itself'] as const;

/** The plan routes as listed in the approvals `/openapi.json`. */
export const PLAN_OPENAPI_PATHS = {
  '/v1/plans': {
    get: {
      summary: 'Plans, newest first (status=pending: with an item awaiting approval)',
      security: BEARER_SECURITY,
      parameters: [queryParam('status', { enum: ['pending'] }), queryParam('limit', { type: 'integer' })],
      responses: {
        '200': jsonResponse('plans', { type: 'object', properties: { items: { type: 'array', items: Plan } } }),
        ...problemResponses(401, FORBIDDEN),
      },
    },
  },
  '/v1/plans/{id}': {
    get: {
      summary: 'A plan: every item with its run status and, when it escalated, its approval',
      security: BEARER_SECURITY,
      parameters: [pathParam('id')],
      responses: { '200': jsonResponse('the plan', Plan), ...problemResponses(401, FORBIDDEN, 404) },
    },
  },
  '/v1/plans/{id}/votes': {
    post: {
      summary: 'Approve all pending items, or a subset by index, in one action (approver)',
      description:
        'Each item gets its own signed approval_vote (and, at its quorum, its own approval_granted bound to its action hash, policy digest and tier). Items to approve are all checked first: one the operator may not approve (tier, self-approval, already voted) refuses the whole vote and nothing is cast. rest=reject (default) rejects the other pending items this operator may decide; rest=pending leaves them pending until they expire.',
      security: BEARER_SECURITY,
      parameters: [pathParam('id')],
      requestBody: jsonBody(z.toJSONSchema(PlanVoteBody, { io: 'input' })),
      responses: {
        '200': jsonResponse('the plan after the votes, and what was cast per item', {
          type: 'object',
          properties: { plan: Plan, votes: { type: 'array', items: { type: 'object' } } },
        }),
        ...problemResponses(400, 401, FORBIDDEN, 404, [409, 'nothing pending, an item already decided or voted']),
      },
    },
  },
};
