import { Controller, Get } from '@nestjs/common';
import { RunStatus } from '@warden/contracts';
import {
  BEARER_SECURITY,
  healthPaths,
  jsonResponse,
  openApiComponents,
  pathParam,
  problemResponses,
  queryParam,
} from '@warden/runtime';

const Run = { $ref: '#/components/schemas/Run' };
const RunDetail = { $ref: '#/components/schemas/RunDetail' };

const RUN_SCHEMA = {
  type: 'object',
  required: ['run_id', 'status', 'agent', 'action', 'trace_id', 'created_at', 'updated_at'],
  properties: {
    run_id: { type: 'string', format: 'uuid' },
    status: { enum: RunStatus.options },
    agent: {
      type: 'object',
      required: ['id', 'role'],
      properties: { id: { type: 'string' }, role: { type: 'string' } },
    },
    session_id: { type: ['string', 'null'] },
    action: {
      type: 'object',
      properties: { tool: { type: 'string' }, args: { type: 'object' } },
    },
    decision: { type: ['object', 'null'], description: 'the Decision (CONTRACT §4)' },
    approval: { type: ['object', 'null'], description: 'id, status, tier, operators' },
    result: {
      type: ['object', 'null'],
      description: '{output, output_hash, error?, outcome_unknown?, truncated?} (CONTRACT §5)',
    },
    trace_id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
} as const;

const RUN_DETAIL_SCHEMA = {
  allOf: [
    Run,
    {
      type: 'object',
      required: ['events'],
      properties: {
        events: { type: 'array', items: { type: 'object', description: 'event envelope (CONTRACT §2)' } },
        ignored_events: {
          type: 'array',
          items: { type: 'object' },
          description: 'events recorded in the timeline but not acted on, with the reason',
        },
      },
    },
  ],
} as const;

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden orchestrator', version: '1' },
  components: openApiComponents('operator token (wop_…)', { Run: RUN_SCHEMA, RunDetail: RUN_DETAIL_SCHEMA }),
  paths: {
    '/v1/runs': {
      get: {
        summary: 'Runs, newest first (viewer)',
        security: BEARER_SECURITY,
        parameters: [
          queryParam('status', { enum: RunStatus.options }),
          queryParam('agent_id', { type: 'string', maxLength: 200 }),
          queryParam('session_id', { type: 'string', maxLength: 200 }),
          queryParam('limit', { type: 'integer', minimum: 1, maximum: 200, default: 50 }),
          queryParam('cursor', { type: 'string' }, 'next_cursor of the previous page'),
        ],
        responses: {
          '200': jsonResponse('A page of runs', {
            type: 'object',
            required: ['runs', 'next_cursor'],
            properties: { runs: { type: 'array', items: Run }, next_cursor: { type: ['string', 'null'] } },
          }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    '/v1/runs/{run_id}': {
      get: {
        summary: 'A run with its timeline of events (viewer)',
        security: BEARER_SECURITY,
        parameters: [pathParam('run_id')],
        responses: { '200': jsonResponse('The run', RunDetail), ...problemResponses(401, 403, 404) },
      },
    },
    '/v1/runs/{run_id}/cancel': {
      post: {
        summary: 'Cancel a non-terminal run (approver); recorded as run_cancelled',
        security: BEARER_SECURITY,
        parameters: [pathParam('run_id')],
        responses: {
          '202': jsonResponse('Cancellation recorded', {
            type: 'object',
            required: ['run_id', 'status'],
            properties: { run_id: { type: 'string', format: 'uuid' }, status: { const: 'cancel_requested' } },
          }),
          ...problemResponses(401, 403, 404),
          '409': { ...problemResponses(409)['409']!, description: 'the run is already terminal' },
        },
      },
    },
    ...healthPaths('NATS and Postgres'),
  },
};

/** The orchestrator API's routes (CONTRACT §3). */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof DOCUMENT {
    return DOCUMENT;
  }
}
