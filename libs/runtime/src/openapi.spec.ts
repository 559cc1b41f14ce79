import {
  BEARER_SECURITY,
  PROBLEM_REF,
  healthPaths,
  openApiComponents,
  pathParam,
  problemResponse,
  problemResponses,
  queryParam,
} from './openapi';

describe('openapi helpers', () => {
  it('describes problems as application/problem+json pointing at the shared schema', () => {
    expect(problemResponse(404)).toEqual({
      description: 'unknown',
      content: { 'application/problem+json': { schema: PROBLEM_REF } },
    });
    expect(problemResponse(418).description).toBe('error');
    expect(problemResponse(409, 'already terminal').description).toBe('already terminal');
    expect(Object.keys(problemResponses(400, 401, 403))).toEqual(['400', '401', '403']);
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
});
