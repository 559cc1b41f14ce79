import { Controller, Get } from '@nestjs/common';
import { RunStatus } from '@warden/contracts';
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

const Run = { $ref: '#/components/schemas/Run' };
const DeadLetter = {
  type: 'object',
  description: 'dlq_seq, consumer, code, category, reason, original_subject, status, handled_by…',
};
const DLQ_SEQ = pathParam('seq', { type: 'string', pattern: '^[1-9][0-9]{0,15}$' });
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
    '/v1/dead-letters': {
      get: {
        summary: 'Dead letters, newest first (admin)',
        security: BEARER_SECURITY,
        parameters: [
          queryParam('service', { type: 'string', maxLength: 200 }),
          queryParam('consumer', { type: 'string', maxLength: 200 }, 'the durable, e.g. policy-task-received'),
          queryParam('code', { type: 'string', maxLength: 200 }),
          queryParam(
            'reason',
            { type: 'string', maxLength: 200 },
            'invalid|forged|refused|max_deliveries, or words of the reason',
          ),
          queryParam('since', { type: 'string', format: 'date-time' }),
          queryParam('status', { enum: ['pending', 'redriven', 'discarded'] }),
          queryParam('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }),
          queryParam('cursor', { type: 'string', pattern: '^[1-9][0-9]{0,15}$' }, 'next_cursor of the previous page'),
        ],
        responses: {
          '200': jsonResponse('A page of dead letters', {
            type: 'object',
            required: ['dead_letters', 'next_cursor'],
            properties: {
              dead_letters: { type: 'array', items: DeadLetter },
              next_cursor: { type: ['string', 'null'] },
            },
          }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    '/v1/dead-letters/{seq}': {
      get: {
        summary: 'One dead letter: why it died, its headers and body (admin)',
        security: BEARER_SECURITY,
        parameters: [DLQ_SEQ],
        responses: { '200': jsonResponse('The dead letter', { type: 'object' }), ...problemResponses(401, 403, 404) },
      },
    },
    '/v1/dead-letters/{seq}/redrive': {
      post: {
        summary:
          'Re-publish the original message to its original subject, once (admin); recorded as dead_letter_redriven',
        security: BEARER_SECURITY,
        parameters: [DLQ_SEQ],
        requestBody: jsonBody({
          type: 'object',
          additionalProperties: false,
          properties: { comment: { type: 'string', maxLength: 2000 } },
        }),
        responses: {
          '200': jsonResponse('Redriven', DeadLetter),
          ...problemResponses(400, 401, 403, 404, 422),
          '409': { ...problemResponses(409)['409']!, description: 'already redriven or discarded' },
        },
      },
    },
    '/v1/dead-letters/{seq}/discard': {
      post: {
        summary: 'Mark a dead letter handled without re-publishing it (admin); recorded as dead_letter_discarded',
        security: BEARER_SECURITY,
        parameters: [DLQ_SEQ],
        requestBody: jsonBody({
          type: 'object',
          additionalProperties: false,
          properties: { reason: { type: 'string', maxLength: 2000 } },
        }),
        responses: {
          '200': jsonResponse('Discarded', DeadLetter),
          ...problemResponses(400, 401, 403, 404),
          '409': { ...problemResponses(409)['409']!, description: 'already redriven or discarded' },
        },
      },
    },
    '/v1/audit/keys': {
      get: {
        summary: 'The audit public keys that sign the chain checkpoints (no token)',
        responses: {
          '200': jsonResponse('Current key first, then earlier ones', {
            type: 'object',
            required: ['algorithm', 'chain', 'keys'],
            properties: {
              algorithm: { const: 'ed25519' },
              chain: { type: 'string' },
              keys: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['key_id', 'public_key', 'current'],
                  properties: {
                    key_id: { type: 'string' },
                    public_key: { type: 'string' },
                    current: { type: 'boolean' },
                  },
                },
              },
            },
          }),
        },
      },
    },
    '/v1/audit/export': {
      get: {
        summary: 'The audit chain as JSON lines: a signed head, then records and checkpoints (viewer)',
        security: BEARER_SECURITY,
        parameters: [
          queryParam('since', { type: 'string', format: 'date-time' }),
          queryParam('from_seq', { type: 'integer', minimum: 1 }),
          queryParam('format', { enum: ['jsonl', 'ocsf'], default: 'jsonl' }),
        ],
        responses: {
          '200': {
            description: 'application/x-ndjson, streamed',
            content: { 'application/x-ndjson': { schema: { type: 'string' } } },
          },
          ...problemResponses(400, 401, 403),
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
