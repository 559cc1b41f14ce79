import {
  BEARER_SECURITY,
  PROBLEM_REF,
  headerParam,
  healthPaths,
  jsonBody,
  jsonResponse,
  jsonSchemaOf,
  openApiComponents,
  pathParam,
  problemResponse,
  problemResponses,
  queryParam,
  queryParams,
} from './openapi';
import { z } from 'zod';

describe('openapi helpers', () => {
  it('describes problems as application/problem+json pointing at the shared schema', () => {
    expect(problemResponse(404)).toEqual({
      description: 'unknown',
      content: { 'application/problem+json': { schema: PROBLEM_REF } },
    });
    expect(problemResponse(418).description).toBe('error');
    expect(problemResponse(409, 'already terminal').description).toBe('already terminal');
    expect(Object.keys(problemResponses(400, 401, 403))).toEqual(['400', '401', '403']);
    const described = problemResponses(401, [409, 'already voted']);
    expect(Object.keys(described)).toEqual(['401', '409']);
    expect(described['401']!.description).toBe('no valid token');
    expect(described['409']).toEqual(problemResponse(409, 'already voted'));
  });

  it('puts the bearer scheme and the Problem schema in components, next to the service schemas', () => {
    const c = openApiComponents('operator token', { Run: { type: 'object' } });
    expect(c.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer', description: 'operator token' });
    expect(Object.keys(c.schemas)).toEqual(['Problem', 'Run']);
    expect(c.schemas.Problem).toMatchObject({ required: ['type', 'title', 'status'] });
    // the security requirement names the scheme defined there
    expect(Object.keys(BEARER_SECURITY[0]!)).toEqual(Object.keys(c.securitySchemes));
  });

  it('lists the health and metrics routes every service serves', () => {
    const p = healthPaths('NATS') as Record<string, { get: { summary: string; responses: object } }>;
    expect(Object.keys(p)).toEqual(['/health/live', '/health/ready', '/metrics']);
    expect(p['/health/ready']!.get.summary).toContain('NATS');
    expect(Object.keys(p['/health/ready']!.get.responses)).toEqual(['200', '503']);
  });

  it('builds parameters: path ones required (uuid by default), query ones optional', () => {
    expect(pathParam('run_id')).toEqual({
      name: 'run_id',
      in: 'path',
      required: true,
      schema: { type: 'string', format: 'uuid' },
    });
    expect(queryParam('limit', { type: 'integer' })).toEqual({
      name: 'limit',
      in: 'query',
      required: false,
      schema: { type: 'integer' },
    });
    expect(queryParam('cursor', { type: 'string' }, 'next page').description).toBe('next page');
  });

  it('builds header parameters (optional unless required) and JSON request bodies (required unless not)', () => {
    expect(headerParam('traceparent')).toEqual({
      name: 'traceparent',
      in: 'header',
      required: false,
      schema: { type: 'string' },
    });
    expect(headerParam('webhook-id', { type: 'string', minLength: 1 }, true)).toMatchObject({
      required: true,
      schema: { minLength: 1 },
    });
    expect(jsonBody({ type: 'object' })).toEqual({
      required: true,
      content: { 'application/json': { schema: { type: 'object' } } },
    });
    expect(jsonBody({ type: 'object' }, false).required).toBe(false);
  });

  it('derives schemas from zod: requests as input (defaults optional), responses as output', () => {
    const Query = z.strictObject({
      status: z.enum(['pending', 'done']).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      agent_id: z.string().min(1),
    });
    expect(queryParams(Query, { limit: 'page size' })).toEqual([
      { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['pending', 'done'] } },
      {
        name: 'limit',
        in: 'query',
        required: false,
        schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
        description: 'page size',
      },
      { name: 'agent_id', in: 'query', required: true, schema: { type: 'string', minLength: 1 } },
    ]);
    const Body = z.strictObject({ comment: z.string().max(2000).optional() });
    expect(jsonBody(Body).content['application/json'].schema).toEqual({
      type: 'object',
      properties: { comment: { type: 'string', maxLength: 2000 } },
      additionalProperties: false,
    });
    // no $schema inside an OpenAPI document: the dialect is the document's
    expect(jsonSchemaOf(Body)).not.toHaveProperty('$schema');
    const Page = z.object({ items: z.array(z.string()), next: z.string().nullable().default(null) });
    expect(jsonResponse('a page', Page).content['application/json'].schema).toMatchObject({
      required: ['items', 'next'],
      properties: { next: { type: ['string', 'null'], default: null } },
    });
    // a hand-written schema (a stream, a $ref) passes through unchanged
    expect(jsonSchemaOf({ $ref: '#/components/schemas/Run' })).toEqual({ $ref: '#/components/schemas/Run' });
  });
});
