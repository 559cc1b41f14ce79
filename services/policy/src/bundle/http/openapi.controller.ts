import { Controller, Get } from '@nestjs/common';

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'Warden policy', version: '1' },
  paths: {
    '/v1/policy': {
      get: {
        summary: 'The active policy bundle',
        responses: {
          '200': {
            description: 'Version, digest and activation time of the bundle this replica judges by',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['version', 'digest', 'activated_at'],
                  properties: {
                    version: { type: 'string' },
                    digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
                    activated_at: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          },
        },
      },
    },
    '/health/live': { get: { summary: 'Liveness', responses: { '200': { description: 'alive' } } } },
    '/health/ready': {
      get: {
        summary: 'Readiness of NATS, Postgres and Redis',
        responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } },
    },
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
