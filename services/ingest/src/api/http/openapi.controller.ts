import { Controller, Get } from '@nestjs/common';
import { TaskSubmission } from '@warden/contracts';
import {
  BEARER_SECURITY,
  headerParam,
  healthPaths,
  jsonBody,
  jsonResponse,
  openApiComponents,
  pathParam,
  problemResponse,
} from '@warden/runtime';
import { CreateKey, RevokeKey, RotateKey } from '../../keys/http/keys.controller';
import { AcceptedResponse, DuplicateResponse } from '../../submission/http/submission.schemas';
import { CreatedKeyResponse, KeysResponse, RevokedKeyResponse } from '../../keys/http/keys.schemas';
import { CreateSource, RotateSource } from '../../webhooks/http/sources.controller';
import { CreatedSourceResponse, RotatedSourceResponse, SourcesResponse } from '../../webhooks/http/sources.schemas';
import { MCP_OPENAPI_PATHS } from '../../mcp/http/mcp.openapi';
import { MCP_SERVERS_OPENAPI_PATHS } from '../../upstream/http/mcp-servers.controller';
import { PLAN_OPENAPI_PATHS } from '../../plan/http/plan.openapi';
import { EXECUTION_OPENAPI_PATHS } from '../../execution/http/execution.openapi';

// the zod schema every submission is parsed with (docs/schemas/TaskSubmission.schema.json is its export)
const submissionBody = jsonBody(TaskSubmission);
const keyId = pathParam('id');
const sourceName = pathParam('name', { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' });

/** The ingest API (CONTRACT §3), served at `GET /openapi.json`. */
export const INGEST_OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Warden ingest', version: '1' },
  components: openApiComponents('API key (wk_…) for /v1/tasks; admin operator token elsewhere'),
  paths: {
    ...MCP_OPENAPI_PATHS,
    ...PLAN_OPENAPI_PATHS,
    ...EXECUTION_OPENAPI_PATHS,
    '/v1/tasks': {
      post: {
        summary: 'Submit a proposed action',
        description:
          'An unbound (legacy) API key is still accepted; its answers carry `Deprecation: true` and a `Warning` header.',
        security: BEARER_SECURITY,
        parameters: [headerParam('traceparent')],
        requestBody: submissionBody,
        responses: {
          '202': jsonResponse('Accepted: durably handed off (task_received acked by JetStream)', AcceptedResponse),
          '200': jsonResponse(
            "Duplicate: same agent + idempotency_key as an earlier run; that run's id",
            DuplicateResponse,
          ),
          '400': problemResponse(400, 'Invalid submission: errors[] with path and message'),
          '401': problemResponse(401, 'Missing, unknown, expired or revoked API key'),
          '403': problemResponse(
            403,
            'An operator token (this route takes API keys), or KEY.AGENT_MISMATCH: the key is bound to another agent id or role (errors[].path agent.id / agent.role)',
          ),
          '409': problemResponse(409, 'run_id already belongs to another submission'),
          '413': problemResponse(413, 'Body over 256 KiB (refused while streaming)'),
          '415': problemResponse(415, 'Not application/json, or a content-encoding'),
          '429': problemResponse(429, "Over the key's rate limit; see Retry-After (seconds)"),
          '503': problemResponse(503, 'Storage or bus unavailable; retry with the same idempotency_key'),
        },
      },
    },
    '/v1/webhooks/{source}': {
      post: {
        summary: 'A Standard Webhooks delivery whose body is a TaskSubmission',
        parameters: [
          pathParam('source', { type: 'string' }),
          headerParam('webhook-id', { type: 'string' }, true),
          headerParam(
            'webhook-timestamp',
            { type: 'string', description: 'seconds since the epoch, ±5 minutes' },
            true,
          ),
          headerParam(
            'webhook-signature',
            { type: 'string', description: 'space-separated v1,<base64 HMAC-SHA256 of id.timestamp.body>' },
            true,
          ),
        ],
        requestBody: submissionBody,
        responses: {
          '202': jsonResponse('Accepted', AcceptedResponse),
          '200': jsonResponse(
            "A replayed webhook-id (or a duplicate idempotency key): the first run's id",
            DuplicateResponse,
          ),
          '400': problemResponse(400, 'Invalid submission'),
          '401': problemResponse(401, 'Unknown source, bad signature, or timestamp outside ±5 minutes'),
          '413': problemResponse(413, 'Body over 256 KiB'),
          '503': problemResponse(503, 'Storage or bus unavailable; retry'),
        },
      },
    },
    '/v1/webhooks/sources': {
      get: {
        summary: 'Webhook sources (admin)',
        security: BEARER_SECURITY,
        responses: { '200': jsonResponse('Every source (never a secret)', SourcesResponse) },
      },
      post: {
        summary: 'Create a webhook source (admin); its secret is shown once',
        security: BEARER_SECURITY,
        requestBody: jsonBody(CreateSource),
        responses: {
          '201': jsonResponse('Created', CreatedSourceResponse),
          '400': problemResponse(400, 'Invalid name'),
          '409': problemResponse(409, 'A source with this name exists'),
        },
      },
    },
    '/v1/webhooks/sources/{name}/rotate': {
      post: {
        summary: "Rotate a source's secret (admin); the previous secret stays valid for the grace period",
        security: BEARER_SECURITY,
        parameters: [sourceName],
        requestBody: jsonBody(RotateSource, false),
        responses: {
          '200': jsonResponse('The new secret (grace_seconds defaults to 86400)', RotatedSourceResponse),
          '404': problemResponse(404, 'No such source'),
        },
      },
    },
    '/v1/webhooks/sources/{name}': {
      delete: {
        summary: 'Delete a source (admin)',
        security: BEARER_SECURITY,
        parameters: [sourceName],
        responses: { '204': { description: 'Deleted' }, '404': problemResponse(404, 'No such source') },
      },
    },
    '/v1/keys': {
      get: {
        summary: 'API keys (admin)',
        security: BEARER_SECURITY,
        responses: {
          '200': jsonResponse('Every key (never the key itself)', KeysResponse),
        },
      },
      post: {
        summary: 'Create an API key (admin); the key is shown once',
        security: BEARER_SECURITY,
        requestBody: jsonBody(CreateKey),
        responses: {
          '201': jsonResponse('Created', CreatedKeyResponse),
          '400': problemResponse(400, 'Invalid input'),
          '401': problemResponse(401, 'No valid token'),
          '403': problemResponse(403, 'Not an admin'),
        },
      },
    },
    '/v1/keys/{id}/revoke': {
      post: {
        summary: 'Revoke a key (admin): refused by every ingest replica within 5 s',
        security: BEARER_SECURITY,
        parameters: [keyId],
        requestBody: jsonBody(RevokeKey, false),
        responses: {
          '200': jsonResponse('Revoked', RevokedKeyResponse),
          '404': problemResponse(404, 'No such key'),
          '409': problemResponse(409, 'Already revoked'),
        },
      },
    },
    '/v1/keys/{id}/rotate': {
      post: {
        summary: 'Rotate a key (admin): a new key now, the old one valid for grace_seconds (default 24 h)',
        security: BEARER_SECURITY,
        parameters: [keyId],
        requestBody: jsonBody(RotateKey, false),
        responses: {
          '201': jsonResponse('The new key', CreatedKeyResponse),
          '404': problemResponse(404, 'No such key'),
          '409': problemResponse(409, 'Already revoked'),
        },
      },
    },
    ...MCP_SERVERS_OPENAPI_PATHS,
    ...healthPaths('NATS, Postgres and Redis'),
  },
} as const;

@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof INGEST_OPENAPI {
    return INGEST_OPENAPI;
  }
}
