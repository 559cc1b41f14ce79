const bearer = [{ bearer: [] }];
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const uuid = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
const Run = {
  type: 'object',
  properties: {
    run_id: { type: 'string', format: 'uuid' },
    status: { type: 'string' },
    agent: { type: ['object', 'null'] },
    session_id: { type: ['string', 'null'] },
    tool: { type: ['string', 'null'] },
    outcome: { type: ['string', 'null'] },
    tier: { type: ['integer', 'null'] },
    approval_id: { type: ['string', 'null'] },
    trace_id: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    last_event: { type: 'string' },
    event_count: { type: 'integer' },
  },
};
const vote = (what: string) => ({
  post: {
    summary: `${what} from the dashboard (recorded with channel "dashboard"); approver`,
    security: bearer,
    parameters: [uuid('id')],
    requestBody: {
      required: false,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            additionalProperties: false,
            properties: {
              comment: { type: 'string', maxLength: 2000 },
              standing: {
                type: 'object',
                properties: { scope: { enum: ['session', 'agent'] }, ttl_seconds: { type: 'integer' } },
                required: ['scope', 'ttl_seconds'],
              },
            },
          },
        },
      },
    },
    responses: {
      '200': {
        description: 'the approval after the vote',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Approval' } } },
      },
      '400': problem('invalid input'),
      '401': problem('no valid token'),
      '403': problem('role or tier not allowed'),
      '404': problem('unknown approval'),
      '409': problem('already decided or already voted'),
    },
  },
});

/** The dashboard's routes as listed in `/openapi.json`. */
export const DASHBOARD_OPENAPI_PATHS = {
  '/': { get: { summary: 'The operator dashboard (HTML)', responses: { '200': { description: 'HTML page' } } } },
  '/dashboard/{asset}': {
    get: {
      summary: 'A static asset of the dashboard (its script and style sheet)',
      parameters: [{ name: 'asset', in: 'path', required: true, schema: { type: 'string' } }],
      responses: {
        '200': { description: 'the asset (ETag; 304 on If-None-Match)' },
        '404': { description: 'no such asset (problem+json)' },
      },
    },
  },
  '/v1/dashboard/me': {
    get: {
      summary: 'Who the token belongs to; viewer',
      security: bearer,
      responses: { '200': { description: '{id, name, roles, max_tier}' }, '401': problem('no valid token') },
    },
  },
  '/v1/dashboard/runs': {
    get: {
      summary: 'Active or recent runs, most recently changed first; viewer',
      security: bearer,
      parameters: [
        { name: 'view', in: 'query', schema: { enum: ['active', 'recent'], default: 'recent' } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
      ],
      responses: {
        '200': {
          description: '{runs}',
          content: {
            'application/json': { schema: { type: 'object', properties: { runs: { type: 'array', items: Run } } } },
          },
        },
        '400': problem('invalid query'),
        '401': problem('no valid token'),
      },
    },
  },
  '/v1/dashboard/runs/{run_id}': {
    get: {
      summary: 'One run and its timeline (every event, in log order); viewer',
      security: bearer,
      parameters: [uuid('run_id')],
      responses: {
        '200': { description: '{run, events: [envelope…]}' },
        '400': problem('not a UUID'),
        '401': problem('no valid token'),
        '404': problem('unknown run'),
      },
    },
  },
  '/v1/dashboard/inbox': {
    get: {
      summary: 'Pending approvals (up to 200); viewer',
      security: bearer,
      responses: { '200': { description: '{items: [Approval]}' }, '401': problem('no valid token') },
    },
  },
  '/v1/dashboard/approvals/{id}/approve': vote('Approve'),
  '/v1/dashboard/approvals/{id}/reject': vote('Reject'),
  '/v1/stream': {
    get: {
      summary: 'Live run events (server-sent events, `event: run-event`); viewer, bearer header',
      security: bearer,
      responses: {
        '200': { description: 'text/event-stream of envelopes (run results without `output`)' },
        '401': problem('no valid token'),
      },
    },
  },
};
