import { Controller, Get } from '@nestjs/common';
import {
  BEARER_SECURITY,
  healthPaths,
  jsonBody,
  jsonResponse,
  openApiComponents,
  pathParam,
  problemResponse,
  problemResponses,
} from '@warden/runtime';

const bundleInfo = {
  type: 'object',
  required: ['version', 'digest', 'activated_at'],
  properties: {
    version: { type: 'string' },
    digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
    activated_at: { type: 'string', format: 'date-time' },
  },
} as const;

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden policy', version: '2' },
  components: openApiComponents('operator token or API key'),
  paths: {
    '/v1/policy': {
      get: {
        summary: 'The active policy bundle',
        responses: {
          '200': jsonResponse('Version, digest and activation time of the bundle this replica judges by', bundleInfo),
        },
      },
      put: {
        summary: 'Validate, store and activate a bundle on every replica (admin)',
        security: BEARER_SECURITY,
        requestBody: {
          required: true,
          content: {
            'application/yaml': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'object' } },
          },
        },
        responses: {
          '200': jsonResponse('Activated', bundleInfo),
          '400': problemResponse(400, 'Invalid bundle: every error with its path (and YAML line)'),
          ...problemResponses(401, 403),
        },
      },
    },
    '/v1/policy/active': {
      put: {
        summary: 'Activate a stored bundle by digest: rollback (admin)',
        security: BEARER_SECURITY,
        requestBody: jsonBody({ type: 'object', required: ['digest'], properties: { digest: { type: 'string' } } }),
        responses: { '200': jsonResponse('Activated', bundleInfo), ...problemResponses(401, 403, 404) },
      },
    },
    '/v1/policy/bundles': {
      get: {
        summary: 'Stored bundles, newest first (viewer)',
        security: BEARER_SECURITY,
        responses: { '200': jsonResponse('Bundles', { type: 'array' }), ...problemResponses(401, 403) },
      },
    },
    '/v1/policy/bundles/{digest}': {
      get: {
        summary: "A stored bundle's source (viewer)",
        security: BEARER_SECURITY,
        parameters: [pathParam('digest', { type: 'string' })],
        responses: {
          '200': jsonResponse('digest, version, source', { type: 'object' }),
          ...problemResponses(401, 403, 404),
        },
      },
    },
    '/v1/policy/whatif': {
      post: {
        summary: 'Evaluate a candidate bundle over recorded decisions; activates nothing (admin)',
        security: BEARER_SECURITY,
        requestBody: jsonBody({
          type: 'object',
          required: ['bundle'],
          properties: {
            bundle: { oneOf: [{ type: 'string' }, { type: 'object' }] },
            since: { type: 'string', description: '24h, 90m, 7d or an ISO time (default 24h)' },
            limit: { type: 'integer', minimum: 1, maximum: 100000 },
          },
        }),
        responses: {
          '200': jsonResponse('evaluated, unchanged, changed, transitions {"deny→allow": n}, examples', {
            type: 'object',
          }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    '/v1/policy/replay': {
      post: {
        summary: 'Replay recorded decisions under their recorded digests (viewer)',
        security: BEARER_SECURITY,
        responses: {
          '200': jsonResponse('replayed, identical, different[]', { type: 'object' }),
          ...problemResponses(401, 403),
        },
      },
    },
    '/v1/decisions/{run_id}/replay': {
      get: {
        summary: "Re-evaluate one run's recorded input under its recorded bundle (viewer)",
        security: BEARER_SECURITY,
        parameters: [pathParam('run_id')],
        responses: {
          '200': jsonResponse('identical, differences, replayed', { type: 'object' }),
          ...problemResponses(401, 403, 404),
        },
      },
    },
    '/v1/evaluate': {
      post: {
        summary: 'Dry run: the Decision that would be made now; changes nothing (API key or viewer)',
        security: BEARER_SECURITY,
        requestBody: jsonBody({ $ref: 'TaskSubmission.schema.json' }),
        responses: {
          '200': jsonResponse('The decision (unsigned)', { $ref: 'Decision.schema.json' }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    ...healthPaths('NATS, Postgres and Redis'),
  },
} as const;

/** The policy API's routes (CONTRACT §3). */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof DOCUMENT {
    return DOCUMENT;
  }
}
