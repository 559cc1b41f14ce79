/**
 * Building blocks shared by the services' OpenAPI 3.1 documents (`GET /openapi.json`): the RFC 9457
 * problem schema, bearer security, and the health/metrics routes every service serves.
 * Plain objects, no framework: a service composes them into its own document. Request and response
 * schemas are the zod schemas the handlers parse with (or type their answers by), turned into JSON
 * Schema 2020-12 (the dialect of OpenAPI 3.1) by zod's own `z.toJSONSchema`: one source.
 */
import { z } from 'zod';

/** A zod schema, or a JSON Schema written by hand (for what zod does not describe: streams, text). */
export type SchemaSource = z.ZodType | Record<string, unknown>;

function isZod(s: unknown): s is z.ZodType {
  return typeof s === 'object' && s !== null && '_zod' in s;
}

/**
 * The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of a zod schema: `io: 'input'` describes what a
 * request may send (defaults optional, coercions as their target type), `'output'` what a response
 * holds. A plain object passes through unchanged.
 * @example jsonSchemaOf(z.object({ limit: z.coerce.number().int().default(50) }), 'input')
 */
export function jsonSchemaOf(schema: SchemaSource, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  if (!isZod(schema)) return schema;
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/**
 * Query parameters from the zod object a handler parses its query with: one per property, required
 * when the schema requires it, each with its JSON Schema and an optional description.
 * @example parameters: queryParams(ListQuery, { cursor: 'next_cursor of the previous page' })
 */
export function queryParams(
  schema: z.ZodObject,
  descriptions: Record<string, string> = {},
): { name: string; in: 'query'; required: boolean; schema: Record<string, unknown>; description?: string }[] {
  const json = jsonSchemaOf(schema, 'input') as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query' as const,
    required: json.required?.includes(name) ?? false,
    schema: s,
    ...(descriptions[name] ? { description: descriptions[name] } : {}),
  }));
}

/** The RFC 9457 problem body every API answers errors with (`errors` for validation). */
export const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;

/** Where documents built with these helpers put the problem schema. */
export const PROBLEM_REF = { $ref: '#/components/schemas/Problem' } as const;

/** Default descriptions of the error statuses. */
const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'invalid input: every error with its field path',
  401: 'no valid token',
  403: 'a valid token without the right role',
  404: 'unknown',
  409: 'conflict with the current state',
  413: 'payload too large',
  422: 'refused by the domain',
  429: 'rate limited (see Retry-After)',
};

/**
 * An `application/problem+json` response.
 * @example problemResponse(404, 'no such run')
 */
export function problemResponse(
  status: number,
  description = ERROR_DESCRIPTIONS[status] ?? 'error',
): {
  description: string;
  content: { 'application/problem+json': { schema: typeof PROBLEM_REF } };
} {
  return { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } };
}

/**
 * Problem responses for several statuses, keyed as OpenAPI wants them; a `[status, description]`
 * pair says what that status means for this route instead of the default.
 * @example responses: { '200': jsonResponse('ok', {}), ...problemResponses(401, 403, [409, 'already voted']) }
 */
export function problemResponses(
  ...statuses: Array<number | readonly [status: number, description: string]>
): Record<string, ReturnType<typeof problemResponse>> {
  return Object.fromEntries(
    statuses.map((s) =>
      typeof s === 'number' ? [String(s), problemResponse(s)] : [String(s[0]), problemResponse(...s)],
    ),
  );
}

/**
 * An `application/json` response.
 * @example jsonResponse('the run', { $ref: '#/components/schemas/Run' })
 */
export function jsonResponse(
  description: string,
  schema: SchemaSource,
): { description: string; content: { 'application/json': { schema: Record<string, unknown> } } } {
  return { description, content: { 'application/json': { schema: jsonSchemaOf(schema, 'output') } } };
}

/**
 * A required path parameter (a UUID unless a schema is given).
 * @example pathParam('run_id')
 */
export function pathParam(
  name: string,
  schema: SchemaSource = { type: 'string', format: 'uuid' },
): { name: string; in: 'path'; required: true; schema: Record<string, unknown> } {
  return { name, in: 'path', required: true, schema: jsonSchemaOf(schema, 'input') };
}

/**
 * An optional query parameter.
 * @example queryParam('limit', { type: 'integer', minimum: 1 }, 'page size')
 */
export function queryParam(
  name: string,
  schema: Record<string, unknown>,
  description?: string,
): { name: string; in: 'query'; required: false; schema: Record<string, unknown>; description?: string } {
  return { name, in: 'query', required: false, schema, ...(description ? { description } : {}) };
}

/**
 * A request header parameter (optional unless `required`).
 * @example headerParam('traceparent', { type: 'string' })
 */
export function headerParam(
  name: string,
  schema: Record<string, unknown> = { type: 'string' },
  required = false,
): { name: string; in: 'header'; required: boolean; schema: Record<string, unknown> } {
  return { name, in: 'header', required, schema };
}

/**
 * An `application/json` request body (required unless `required` is false).
 * @example requestBody: jsonBody({ type: 'object', required: ['digest'] })
 */
export function jsonBody(
  schema: SchemaSource,
  required = true,
): { required: boolean; content: { 'application/json': { schema: Record<string, unknown> } } } {
  return { required, content: { 'application/json': { schema: jsonSchemaOf(schema, 'input') } } };
}

/** Operation-level `security` for `Authorization: Bearer <token>`. */
export const BEARER_SECURITY = [{ bearer: [] as string[] }];

/**
 * `components` with the bearer scheme and the problem schema, plus the service's own schemas.
 * @example components('operator token (wop_…)', { Run: {...} })
 */
export function openApiComponents(
  bearerDescription: string,
  schemas: Record<string, unknown> = {},
): {
  securitySchemes: { bearer: { type: 'http'; scheme: 'bearer'; description: string } };
  schemas: Record<string, unknown>;
} {
  return {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: bearerDescription } },
    schemas: { Problem: PROBLEM_SCHEMA, ...schemas },
  };
}

/**
 * `/health/live`, `/health/ready` and `/metrics`, as every service serves them (CONTRACT §1).
 * @example paths: { ...apiPaths, ...healthPaths('NATS and Postgres') }
 */
export function healthPaths(readyChecks: string): Record<string, unknown> {
  return {
    '/health/live': {
      get: { summary: 'Liveness', responses: { '200': jsonResponse('alive', { type: 'object' }) } },
    },
    '/health/ready': {
      get: {
        summary: `Readiness of ${readyChecks} (the body names each check)`,
        responses: {
          '200': jsonResponse('ready', { type: 'object' }),
          '503': jsonResponse('not ready', { type: 'object' }),
        },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': {} } } },
      },
    },
  };
}
