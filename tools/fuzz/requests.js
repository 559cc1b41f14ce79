'use strict';
/**
 * Hostile HTTP requests for any Warden service, generated with fast-check from the service's own
 * `GET /openapi.json`: every route, with path parameters, query strings, bodies and headers drawn
 * from valid values and from the cases that used to break us (NUL, lone surrogates, `1e400`, deep
 * nesting, other charsets and content-encodings, gzip that is not gzip). Shared by the fuzz tests in
 * `npm test` (test/fuzz.int-spec.ts) and the long campaign (`npm run fuzz`, tools/fuzz.js).
 */
const { gzipSync } = require('node:zlib');
const fc = require('fast-check');

/** Strings that must be stored exactly or refused with a path: never a 5xx, never collapsed. */
const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'k\udbff',
  '\udfff',
  '\ufffd',
  'k\ufffd',
  '😀',
  '𝄞',
  '\u2028\u2029',
  '\u00e9',
  'x'.repeat(201),
  'x'.repeat(5000),
  '../../etc/passwd',
  "'; DROP TABLE runs; --",
  '<script>alert(1)</script>',
  '%00',
  'sha256:' + '0'.repeat(64),
];
/** Number literals as text (JSON.stringify cannot write the ones that overflow). */
const EDGE_NUMBERS = [
  '0',
  '-1',
  '1',
  '0.5',
  '1e400',
  '-1e400',
  '1e-400',
  '12345678901234567890',
  '9007199254740991',
  '9007199254740993',
  '-9007199254740991',
  '1e308',
  '5e-324',
];
/** Raw, already percent-encoded URL components. */
const EDGE_URL = ['x', '%00', 'a%00b', '%ED%A0%80', '%ff', '%zz', '%', '%F0%9F%98%80', 'x%2Fy', '..', '%2e%2e', 'a+b'];
const DEEP = [63, 64, 65, 3000, 100_000];

const MARK = '\u0001';
/** A value that becomes raw JSON text (a number literal, deep nesting) once serialised. */
const raw = (text) => `${MARK}RAW:${text}${MARK}`;
function serialise(value) {
  return JSON.stringify(value).replace(/"\\u0001RAW:(.*?)\\u0001"/g, (_, t) => t.replace(/\\"/g, '"'));
}

const uuid = fc.uuid();
const edgeString = fc.constantFrom(...EDGE_STRINGS);
const edgeNumber = fc.constantFrom(...EDGE_NUMBERS).map(raw);
const deep = fc.constantFrom(...DEEP).map((n) => raw('['.repeat(n) + ']'.repeat(n)));
const hostile = fc.oneof(
  edgeString,
  edgeNumber,
  deep,
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

// built once per pattern: requestsFor() builds a route's arbitraries per draw (chain), and building
// a stringMatching arbitrary (parsing the regex, mapping its character classes) costs ~20 ms
const MATCHING = new Map();
function matching(schema) {
  const key = `${schema.maxLength ?? 200} ${schema.pattern}`;
  let arb = MATCHING.get(key);
  if (!arb) {
    try {
      arb = fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 200));
    } catch {
      arb = fc.string({ maxLength: 20 });
    }
    MATCHING.set(key, arb);
  }
  return arb;
}

/** Values for a JSON Schema (the subset our OpenAPI documents use), valid more often than not. */
function sample(schema, components, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 6) return fc.jsonValue({ maxDepth: 1 });
  if (schema.$ref) {
    const name = String(schema.$ref).split('/').pop();
    return sample(components?.schemas?.[name], components, depth + 1);
  }
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts) return fc.oneof(...alts.map((s) => sample(s, components, depth + 1)));
  let valid;
  if (schema.enum) valid = fc.constantFrom(...schema.enum);
  else if (schema.const !== undefined) valid = fc.constant(schema.const);
  else {
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    switch (type) {
      case 'string':
        valid =
          schema.format === 'uuid'
            ? uuid
            : schema.format === 'date-time'
              ? fc.constant(new Date().toISOString())
              : schema.pattern
                ? matching(schema)
                : fc.string({ minLength: schema.minLength ?? 1, maxLength: Math.min(schema.maxLength ?? 20, 20) });
        break;
      case 'integer':
        valid = fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 1000, 1000) });
        break;
      case 'number':
        valid = fc.double({ min: 0, max: 1000, noNaN: true });
        break;
      case 'boolean':
        valid = fc.boolean();
        break;
      case 'array':
        valid = fc.array(sample(schema.items, components, depth + 1), { maxLength: 3 });
        break;
      case 'object': {
        const props = schema.properties ?? {};
        const keys = Object.keys(props);
        valid = keys.length
          ? fc.record(Object.fromEntries(keys.map((k) => [k, sample(props[k], components, depth + 1)])), {
              requiredKeys: schema.required ?? [],
            })
          : fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
        break;
      }
      default:
        valid = fc.jsonValue({ maxDepth: 2 });
    }
  }
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}

/** A TaskSubmission-shaped body most of the time (every service's "interesting" payload). */
const submission = fc.record(
  {
    agent: fc.record({
      id: fc.oneof(fc.constantFrom('agent-fuzz', 'agent-2'), edgeString),
      role: fc.constantFrom('dev', 'research', 'outreach'),
    }),
    action: fc.record({
      tool: fc.constantFrom('fs.read_file', 'fs.write_file', 'fs.list_dir', 'git.status', 'secrets.read', 'x.y'),
      args: fc.dictionary(
        fc.constantFrom('path', 'content', 'x', '', 'k\u0000', '\ud800'),
        fc.oneof(hostile, fc.constant('notes/fuzz.md')),
        {
          maxKeys: 3,
        },
      ),
    }),
    idempotency_key: fc.oneof(fc.constantFrom('k1', 'k2'), edgeString),
    session_id: fc.oneof(
      fc.uuid().map((u) => `sess-${u}`),
      edgeString,
    ),
    intent: fc.oneof(fc.constant('fuzz'), edgeString),
    metadata: fc.dictionary(fc.oneof(fc.string({ maxLength: 5 }), edgeString), hostile, { maxKeys: 3 }),
  },
  { requiredKeys: ['agent', 'action'] },
);

/** The body of a request: JSON of the route's schema or a submission, mutated, or plain garbage. */
function body(schema, components) {
  const json = fc.oneof(
    { weight: 4, arbitrary: schema ? sample(schema, components) : fc.jsonValue({ maxDepth: 2 }) },
    { weight: 3, arbitrary: submission },
  );
  return fc.oneof(
    { weight: 6, arbitrary: json.map(serialise) },
    {
      weight: 2,
      arbitrary: fc.tuple(json, fc.nat(), fc.string({ unit: 'binary', maxLength: 3 })).map(([v, at, ins]) => {
        const t = serialise(v);
        const i = at % (t.length + 1);
        return t.slice(0, i) + ins + t.slice(i + 1);
      }),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset="UTF-8"',
  'application/json; charset=foo',
  'application/json; charset=utf-16',
  'application/merge-patch+json',
  'text/plain',
  'application/yaml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  undefined,
];

/**
 * Arbitrary requests for one OpenAPI document. `auth` maps a route's security to a header value
 * (e.g. the admin token, an API key); the generator sometimes sends none or garbage instead.
 * @returns fc.Arbitrary<{method, path, headers, body?: Buffer, route}>
 */
function requestsFor(doc, { tokens = [] } = {}) {
  const routes = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
      if (/stream/.test(path) || op?.responses?.['200']?.content?.['text/event-stream']) continue;
      routes.push({ path, method: method.toUpperCase(), op });
    }
  }
  // a service without an OpenAPI document still gets its health routes and unknown ones fuzzed
  if (routes.length === 0)
    for (const [method, path] of [
      ['GET', '/health/live'],
      ['GET', '/health/ready'],
      ['GET', '/metrics'],
      ['POST', '/v1/{x}'],
      ['PUT', '/{x}'],
    ])
      routes.push({ path, method, op: path.includes('{x}') ? { parameters: [{ in: 'path', name: 'x' }] } : {} });
  const components = doc.components;
  const one = fc.constantFrom(...routes).chain((r) => {
    const params = (r.op.parameters ?? []).filter((p) => p.in === 'path' || p.in === 'query');
    const schema = r.op.requestBody?.content?.['application/json']?.schema;
    const pathParams = fc.record(
      Object.fromEntries(
        params
          .filter((p) => p.in === 'path')
          .map((p) => [
            p.name,
            fc.oneof(uuid, fc.constantFrom(...EDGE_URL), fc.string({ maxLength: 8 }).map(encodeURIComponent)),
          ]),
      ),
    );
    const queryNames = [...params.filter((p) => p.in === 'query').map((p) => p.name), 'x', '%00', 'a%ED%A0%80'];
    const query = fc.array(
      fc.tuple(
        fc.constantFrom(...queryNames),
        fc.oneof(fc.constantFrom(...EDGE_URL), fc.constantFrom('pending', 'succeeded', '10', '-1', '1e400', '24h')),
      ),
      { maxLength: 3 },
    );
    const hasBody = r.method !== 'GET' && r.method !== 'DELETE';
    return fc
      .record({
        route: fc.constant(`${r.method} ${r.path}`),
        method: fc.constant(r.method),
        pathParams,
        query,
        body: hasBody ? fc.option(body(schema, components), { freq: 8 }) : fc.constant(null),
        contentType: fc.constantFrom(...CONTENT_TYPES),
        encoding: fc.constantFrom(
          'identity',
          'identity',
          'identity',
          'gzip',
          'gzip-fake',
          'x-unknown',
          'br',
          undefined,
        ),
        auth: fc.oneof(
          { weight: 6, arbitrary: tokens.length ? fc.constantFrom(...tokens) : fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constantFrom('garbage', 'wk_' + 'x'.repeat(40), 'wop_nope') },
        ),
      })
      .map((g) => {
        let path = r.path;
        for (const [k, v] of Object.entries(g.pathParams)) path = path.replace(`{${k}}`, v);
        if (g.query.length) path += '?' + g.query.map(([k, v]) => `${k}=${v}`).join('&');
        const headers = {};
        if (g.contentType !== undefined && g.body !== null) headers['content-type'] = g.contentType;
        if (g.auth) headers.authorization = `Bearer ${g.auth}`;
        let bytes = g.body === null ? undefined : Buffer.isBuffer(g.body) ? g.body : Buffer.from(g.body, 'utf8');
        if (bytes && g.encoding === 'gzip') {
          bytes = gzipSync(bytes);
          headers['content-encoding'] = 'gzip';
        } else if (bytes && g.encoding === 'gzip-fake') headers['content-encoding'] = 'gzip';
        else if (bytes && g.encoding !== undefined) headers['content-encoding'] = g.encoding;
        return { route: g.route, method: g.method, path, headers, body: bytes };
      });
  });
  return one;
}

/**
 * Sends one request and judges the answer: `{status, ms, verdict}` where verdict is `ok`, `5xx`,
 * `hang` (no answer within `timeoutMs`) or `bad-problem` (a 4xx that is not problem+json with its
 * status). Never throws.
 */
async function send(baseUrl, req, { timeoutMs = 10_000 } = {}) {
  const t0 = performance.now();
  try {
    const res = await fetch(baseUrl + req.path, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status >= 500) return { status: res.status, ms, verdict: '5xx', text };
    if (res.status >= 400) {
      let p;
      try {
        p = JSON.parse(text);
      } catch {
        p = undefined;
      }
      const ok = /^application\/problem\+json/.test(res.headers.get('content-type') ?? '') && p?.status === res.status;
      return { status: res.status, ms, verdict: ok ? 'ok' : 'bad-problem', text };
    }
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, ms, verdict: 'ok', json };
  } catch (err) {
    const ms = performance.now() - t0;
    const name = err?.name ?? '';
    if (name === 'TimeoutError' || name === 'AbortError') return { status: 0, ms, verdict: 'hang' };
    // the server closed the connection after an early answer (413/415) while the body was still going
    return { status: 0, ms, verdict: 'reset', text: String(err?.cause?.code ?? err?.message ?? err) };
  }
}

module.exports = { EDGE_STRINGS, EDGE_NUMBERS, submission, requestsFor, send, serialise, raw };
