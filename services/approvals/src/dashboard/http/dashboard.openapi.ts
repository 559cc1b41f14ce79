import { BEARER_SECURITY, jsonBody, jsonResponse, pathParam, problemResponses, queryParams } from '@warden/runtime';
import { RunsQuery, VoteBody } from './dashboard.controller';
import { DashboardMeResponse, DashboardRunDetailResponse, DashboardRunsResponse } from './dashboard.schemas';

const vote = (what: string) => ({
  post: {
    summary: `${what} from the dashboard (recorded with channel "dashboard"); approver`,
    security: BEARER_SECURITY,
    parameters: [pathParam('id')],
    requestBody: jsonBody(VoteBody, false),
    responses: {
      '200': jsonResponse('the approval after the vote', { $ref: '#/components/schemas/Approval' }),
      ...problemResponses(
        [400, 'invalid input'],
        401,
        [403, 'role or tier not allowed'],
        [404, 'unknown approval'],
        [409, 'already decided or already voted'],
      ),
    },
  },
});

/** The dashboard's routes as listed in `/openapi.json`. */
export const DASHBOARD_OPENAPI_PATHS = {
  '/': { get: { summary: 'The operator dashboard (HTML)', responses: { '200': { description: 'HTML page' } } } },
  '/dashboard/{asset}': {
    get: {
      summary: 'A static asset of the dashboard: app.js, app.css, and run-status.js (generated from the contracts)',
      parameters: [pathParam('asset', { type: 'string' })],
      responses: {
        '200': { description: 'the asset (ETag; 304 on If-None-Match)' },
        ...problemResponses([404, 'no such asset']),
      },
    },
  },
  '/v1/dashboard/me': {
    get: {
      summary: 'Who the token belongs to; viewer',
      security: BEARER_SECURITY,
      responses: { '200': jsonResponse('who the token belongs to', DashboardMeResponse), ...problemResponses(401) },
    },
  },
  '/v1/dashboard/runs': {
    get: {
      summary: 'Active or recent runs, most recently changed first; viewer',
      security: BEARER_SECURITY,
      parameters: queryParams(RunsQuery),
      responses: {
        '200': jsonResponse('{runs}', DashboardRunsResponse),
        ...problemResponses([400, 'invalid query'], 401),
      },
    },
  },
  '/v1/dashboard/runs/{run_id}': {
    get: {
      summary: 'One run and its timeline (every event, in log order); viewer',
      security: BEARER_SECURITY,
      parameters: [pathParam('run_id')],
      responses: {
        '200': jsonResponse('{run, events: [envelope…]}', DashboardRunDetailResponse),
        ...problemResponses([400, 'not a UUID'], 401, [404, 'unknown run']),
      },
    },
  },
  '/v1/dashboard/inbox': {
    get: {
      summary: 'Pending approvals (up to 200); viewer',
      security: BEARER_SECURITY,
      responses: {
        '200': jsonResponse('{items: [Approval]}', {
          type: 'object',
          required: ['items'],
          properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Approval' } } },
        }),
        ...problemResponses(401),
      },
    },
  },
  '/v1/dashboard/approvals/{id}/approve': vote('Approve'),
  '/v1/dashboard/approvals/{id}/reject': vote('Reject'),
  '/v1/stream': {
    get: {
      summary: 'Live run events (server-sent events, `event: run-event`); viewer, bearer header',
      security: BEARER_SECURITY,
      responses: {
        '200': { description: 'text/event-stream of envelopes (run results without `output`)' },
        ...problemResponses(401),
      },
    },
  },
};
