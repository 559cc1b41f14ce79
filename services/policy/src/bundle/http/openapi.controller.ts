import { Controller, Get } from '@nestjs/common';
import { Decision, TaskSubmission } from '@warden/contracts';
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
import {
  ActivateBody,
  BundleInfoResponse,
  BundleSourceResponse,
  ReplayBody,
  ReplayManyResponse,
  ReplayResultResponse,
  StoredBundleResponse,
  WhatIfBody,
  WhatIfResponse,
} from './policy.schemas';

// Request and response schemas are zod schemas (the contracts', or this service's http schemas),
// turned into JSON Schema 2020-12 by z.toJSONSchema.
const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden policy', version: '2' },
  components: openApiComponents('operator token or API key'),
  paths: {
    '/v1/policy': {
      get: {
        summary: 'The active policy bundle',
        responses: {
          '200': jsonResponse(
            'Version, digest and activation time of the bundle this replica judges by',
            BundleInfoResponse,
          ),
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
          '200': jsonResponse('Activated', BundleInfoResponse),
          '400': problemResponse(400, 'Invalid bundle: every error with its path (and YAML line)'),
          ...problemResponses(401, 403),
        },
      },
    },
    '/v1/policy/active': {
      put: {
        summary: 'Activate a stored bundle by digest: rollback (admin)',
        security: BEARER_SECURITY,
        requestBody: jsonBody(ActivateBody),
        responses: { '200': jsonResponse('Activated', BundleInfoResponse), ...problemResponses(400, 401, 403, 404) },
      },
    },
    '/v1/policy/bundles': {
      get: {
        summary: 'Stored bundles, newest first (viewer)',
        security: BEARER_SECURITY,
        responses: {
          '200': jsonResponse('Bundles', StoredBundleResponse.array()),
          ...problemResponses(401, 403),
        },
      },
    },
    '/v1/policy/bundles/{digest}': {
      get: {
        summary: "A stored bundle's source (viewer)",
        security: BEARER_SECURITY,
        parameters: [pathParam('digest', { type: 'string' })],
        responses: {
          '200': jsonResponse('digest, version, source', BundleSourceResponse),
          ...problemResponses(401, 403, 404),
        },
      },
    },
    '/v1/policy/whatif': {
      post: {
        summary: 'Evaluate a candidate bundle over recorded decisions; activates nothing (admin)',
        security: BEARER_SECURITY,
        requestBody: jsonBody(WhatIfBody),
        responses: {
          '200': jsonResponse('evaluated, unchanged, changed, transitions {"deny→allow": n}, examples', WhatIfResponse),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    '/v1/policy/replay': {
      post: {
        summary: 'Replay recorded decisions under their recorded digests (viewer)',
        security: BEARER_SECURITY,
        requestBody: jsonBody(ReplayBody, false),
        responses: {
          '200': jsonResponse('replayed, identical, different[]', ReplayManyResponse),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    '/v1/decisions/{run_id}/replay': {
      get: {
        summary: "Re-evaluate one run's recorded input under its recorded bundle (viewer)",
        security: BEARER_SECURITY,
        parameters: [pathParam('run_id')],
        responses: {
          '200': jsonResponse('identical, differences, replayed', ReplayResultResponse),
          ...problemResponses(401, 403, 404),
        },
      },
    },
    '/v1/evaluate': {
      post: {
        summary: 'Dry run: the Decision that would be made now; changes nothing (API key or viewer)',
        security: BEARER_SECURITY,
        requestBody: jsonBody(TaskSubmission),
        responses: {
          '200': jsonResponse('The decision (unsigned)', Decision),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    ...healthPaths('NATS, Postgres and Redis'),
  },
};

/** The policy API's routes (CONTRACT §3), generated from zod schemas. */
@Controller()
export class OpenApiController {
  @Get('openapi.json')
  document(): typeof DOCUMENT {
    return DOCUMENT;
  }
}
