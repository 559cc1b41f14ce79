import { z } from 'zod';
import { PlanSubmission } from '@warden/contracts';
import { BEARER_SECURITY, jsonBody, jsonResponse, problemResponse } from '@warden/runtime';

const PlanAccepted = {
  type: 'object',
  required: ['plan_id', 'status', 'duplicate', 'runs'],
  properties: {
    plan_id: { type: 'string', format: 'uuid' },
    status: { const: 'received' },
    duplicate: { type: 'boolean', description: 'true when every item named an existing run (a retry)' },
    runs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'run_id', 'duplicate'],
        properties: {
          index: { type: 'integer', minimum: 0 },
          run_id: { type: 'string', format: 'uuid' },
          duplicate: { type: 'boolean' },
        },
      },
    },
  },
};

/** `POST /v1/plans` as listed in ingest's `/openapi.json` (the body's schema derived from the contract's zod schema). */
export const PLAN_OPENAPI_PATHS = {
  '/v1/plans': {
    post: {
      summary: 'Propose a plan: an ordered list of actions, each an ordinary run carrying plan {id, index, count}',
      description:
        'Validation is all or nothing (errors[].path like items.2.tool). The escalating items are shown as one approval by the approvals service (GET /v1/plans/{id} there). A retry with the same plan_id names the same runs.',
      security: BEARER_SECURITY,
      requestBody: jsonBody(z.toJSONSchema(PlanSubmission, { io: 'input', unrepresentable: 'any' })),
      responses: {
        '202': jsonResponse('Accepted: every item durably handed off', PlanAccepted),
        '200': jsonResponse('A retry: every item named an existing run', PlanAccepted),
        '400': problemResponse(400, 'Invalid plan or item: errors[] with path and message; nothing stored'),
        '401': problemResponse(401, 'Missing, unknown, expired or revoked API key'),
        '403': problemResponse(403, 'KEY.AGENT_MISMATCH: the key is bound to another agent id or role'),
        '429': problemResponse(429, "Over the key's rate limit (one token per item); see Retry-After"),
        '503': problemResponse(503, 'Storage or bus unavailable; retry with the same plan_id'),
      },
    },
  },
};
