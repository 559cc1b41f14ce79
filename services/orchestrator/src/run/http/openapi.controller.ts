import { Controller, Get } from '@nestjs/common';
import { z } from 'zod';
import {
  BEARER_SECURITY,
  healthPaths,
  jsonBody,
  jsonResponse,
  jsonSchemaOf,
  openApiComponents,
  pathParam,
  problemResponses,
  queryParams,
} from '@warden/runtime';
import { AuditKeysResponse } from '../../audit/http/audit.schemas';
import { ExportQuery } from '../../audit/http/audit.controller';
import {
  DeadLetterPage,
  DeadLetterResponse,
  DeadLetterSummaryResponse,
} from '../../dead-letter/http/dead-letter.schemas';
import { DiscardBody, ListQuery as DeadLetterQuery, RedriveBody } from '../../dead-letter/http/dead-letters.controller';
import { CancelResponse, RunDetailResponse, RunPage, RunResponse } from './run.schemas';
import { ListQuery as RunsQuery } from './runs.controller';

// Every request and response schema below is a zod schema: the one the handler parses with, or the
// one in this service's http schemas that types its answer (JSON Schema 2020-12 via z.toJSONSchema).
const RunDetail = { $ref: '#/components/schemas/RunDetail' };
const DLQ_SEQ = pathParam('seq', z.string().regex(/^[1-9][0-9]{0,15}$/));
const CURSOR = { cursor: 'next_cursor of the previous page' };

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden orchestrator', version: '1' },
  components: openApiComponents('operator token (wop_…); API keys read their own runs’ streams', {
    Run: jsonSchemaOf(RunResponse),
    RunDetail: jsonSchemaOf(RunDetailResponse),
  }),
  paths: {
    '/v1/runs': {
      get: {
        summary: 'Runs, newest first (viewer)',
        security: BEARER_SECURITY,
        parameters: queryParams(RunsQuery, CURSOR),
        responses: {
          '200': jsonResponse('A page of runs', RunPage),
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
    '/v1/runs/{run_id}/stream': {
      get: {
        summary:
          "The run's timeline and status as Server-Sent Events (API key bound to the run's agent, or viewer): " +
          '`event` (an envelope, id = seq), `ignored`, `run` (the run without events) and `end` (terminal; the stream closes)',
        security: BEARER_SECURITY,
        parameters: [
          pathParam('run_id'),
          {
            name: 'after',
            in: 'query',
            required: false,
            schema: { type: 'string', pattern: '^[0-9]+$' },
            description: 'resume after this seq (or send Last-Event-ID)',
          },
        ],
        responses: {
          '200': { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...problemResponses(401, 403, 404),
        },
      },
    },
    '/v1/runs/{run_id}/cancel': {
      post: {
        summary: 'Cancel a non-terminal run (approver); recorded as run_cancelled',
        security: BEARER_SECURITY,
        parameters: [pathParam('run_id')],
        responses: {
          '202': jsonResponse('Cancellation recorded', CancelResponse),
          ...problemResponses(401, 403, 404, [409, 'the run is already terminal']),
        },
      },
    },
    '/v1/dead-letters': {
      get: {
        summary: 'Dead letters, newest first (admin)',
        security: BEARER_SECURITY,
        parameters: queryParams(DeadLetterQuery, {
          ...CURSOR,
          consumer: 'the durable, e.g. policy-task-received',
          reason: 'invalid|forged|refused|max_deliveries, or words of the reason',
        }),
        responses: {
          '200': jsonResponse('A page of dead letters', DeadLetterPage),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    '/v1/dead-letters/{seq}': {
      get: {
        summary: 'One dead letter: why it died, its headers and body (admin)',
        security: BEARER_SECURITY,
        parameters: [DLQ_SEQ],
        responses: {
          '200': jsonResponse('The dead letter', DeadLetterResponse),
          ...problemResponses(401, 403, 404),
        },
      },
    },
    '/v1/dead-letters/{seq}/redrive': {
      post: {
        summary:
          'Re-publish the original message to its original subject, once (admin); recorded as dead_letter_redriven',
        security: BEARER_SECURITY,
        parameters: [DLQ_SEQ],
        requestBody: jsonBody(RedriveBody, false),
        responses: {
          '200': jsonResponse('Redriven', DeadLetterSummaryResponse),
          ...problemResponses(400, 401, 403, 404, [409, 'already redriven or discarded'], 422),
        },
      },
    },
    '/v1/dead-letters/{seq}/discard': {
      post: {
        summary: 'Mark a dead letter handled without re-publishing it (admin); recorded as dead_letter_discarded',
        security: BEARER_SECURITY,
        parameters: [DLQ_SEQ],
        requestBody: jsonBody(DiscardBody, false),
        responses: {
          '200': jsonResponse('Discarded', DeadLetterSummaryResponse),
          ...problemResponses(400, 401, 403, 404, [409, 'already redriven or discarded']),
        },
      },
    },
    '/v1/audit/keys': {
      get: {
        summary: 'The audit public keys that sign the chain checkpoints (no token)',
        responses: { '200': jsonResponse('Current key first, then earlier ones', AuditKeysResponse) },
      },
    },
    '/v1/audit/export': {
      get: {
        summary: 'The audit chain as JSON lines: a signed head, then records and checkpoints (viewer)',
        security: BEARER_SECURITY,
        parameters: queryParams(ExportQuery),
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

/** The orchestrator API's routes (CONTRACT §3), generated from the handlers' zod schemas. */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof DOCUMENT {
    return DOCUMENT;
  }
}
