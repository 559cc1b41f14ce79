#!/usr/bin/env node
'use strict';
/**
 * Writes docs/configuration.md from the zod schemas that parse each service's environment (the
 * shared `BaseEnv` of @warden/runtime and each service's `src/config.ts`), so the page cannot drift
 * from what the services accept: variable, type, default and the schema's `.describe()` text.
 * Reads the BUILT schemas through each service's package entry `@warden/<name>-service/config` (run
 * `npm run build` first). `--check` renders in memory and fails if
 * the page on disk differs. `npm run contracts:generate` / `contracts:check` run it.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PAGE = path.join(ROOT, 'docs', 'configuration.md');
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];

/** Defaults computed when the schema is parsed (so they differ per machine) are shown as this text. */
const COMPUTED_DEFAULTS = { WORKER_ID: '<hostname>-<pid>' };

/** Variables read outside the service schemas, kept here by hand: name, default, who reads it, meaning. */
const OUTSIDE_SCHEMAS = [
  ['`LOG_FORMAT`', '`text`', 'every service (`libs/observability` logger)', '`json` for one JSON object per line'],
  [
    '`OTEL_EXPORTER_OTLP_PROTOCOL`',
    '`http/protobuf`',
    'every service (OpenTelemetry SDK)',
    '`http/json` or `grpc` also work; the standard `OTEL_*` variables apply (`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_TRACES_SAMPLER`, …)',
  ],
  ['`WARDEN_TEST_RESULTS_DIR`', '`var/test-results`', '`npm test`', "where jest's JSON results are written"],
  ['`NO_COLOR` / `FORCE_COLOR`', 'colour on a TTY', '`npm start`, `npm test`', 'log prefix colours'],
];

function loadSchemas() {
  let z;
  let runtime;
  const services = {};
  try {
    z = require('zod').z;
    runtime = require('@warden/runtime');
    for (const name of SERVICES) {
      // each service's package entry `@warden/<name>-service/config` (package.json exports), never a path into dist/
      const mod = require(`@warden/${name}-service/config`);
      const key = Object.keys(mod).find((k) => /Env$/.test(k));
      if (!key) throw new Error(`services/${name}/src/config.ts exports no …Env schema`);
      services[name] = mod[key];
    }
  } catch (err) {
    throw new Error(`cannot load the built config schemas (${err.message}); run "npm run build" first`);
  }
  return { z, base: runtime.BaseEnv, services };
}

/** The object schema under a schema that may be wrapped in a transform (`z.object(…).transform(…)`). */
function objectShape(schema) {
  let s = schema;
  while (s && !s.shape && s._zod?.def?.in) s = s._zod.def.in;
  if (!s?.shape) throw new Error('a config schema is not an object');
  return s.shape;
}

const code = (v) => `\`${String(v).replace(/`/g, "'")}\``;
const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function range(js) {
  const SAFE = Number.MAX_SAFE_INTEGER;
  const int = js.type === 'integer';
  let lo = js.minimum !== undefined && js.minimum > -SAFE ? `${js.minimum}` : undefined;
  if (lo === undefined && js.exclusiveMinimum !== undefined)
    lo = int ? `${js.exclusiveMinimum + 1}` : `> ${js.exclusiveMinimum}`;
  const hi = js.maximum !== undefined && js.maximum < SAFE ? `${js.maximum}` : undefined;
  if (lo !== undefined && hi !== undefined) return lo.startsWith('>') ? ` ${lo}, ≤ ${hi}` : ` ${lo}..${hi}`;
  if (lo !== undefined) return lo.startsWith('>') ? ` ${lo}` : ` ≥ ${lo}`;
  if (hi !== undefined) return ` ≤ ${hi}`;
  return '';
}

/** A short type for a field's JSON Schema (input side: what the environment may hold). */
function typeOf(js) {
  if (js.enum) {
    const values = js.enum.map(String);
    if (values.every((v) => ['true', 'false', '1', '0', ''].includes(v))) return 'boolean (`true`/`1`, `false`/`0`)';
    return values.map(code).join(' | ');
  }
  if (js.type === 'integer' || js.type === 'number') return `${js.type}${range(js)}`;
  if (js.type === 'string') {
    if (js.format === 'uri') return 'URL';
    if (js.minLength > 1) return `string, ≥ ${js.minLength} characters`;
    return 'string';
  }
  return js.type ? String(js.type) : 'string';
}

function defaultOf(name, js) {
  if (COMPUTED_DEFAULTS[name]) return code(COMPUTED_DEFAULTS[name]);
  if (js.default === undefined) return '–';
  if (js.default === '') return 'empty';
  return code(js.default);
}

function rows(z, shape, names) {
  return names.map((name) => {
    const field = shape[name];
    const js = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' });
    const description = field.description ?? js.description;
    if (!description) throw new Error(`${name} has no description: add .describe('…') to its schema`);
    return `| ${code(name)} | ${cell(typeOf(js))} | ${cell(defaultOf(name, js))} | ${cell(description)} |`;
  });
}

function table(lines) {
  return ['| variable | type | default | meaning |', '|---|---|---|---|', ...lines].join('\n');
}

/**
 * The page, as a string. Pure: the same schemas give the same page.
 * @param schemas the zod module, `BaseEnv` and each service's env schema (default: the built ones)
 * @example fs.writeFileSync('docs/configuration.md', renderConfigDocs())
 */
function renderConfigDocs(schemas = loadSchemas()) {
  const { z, base, services } = schemas;
  const baseShape = objectShape(base);
  const baseNames = Object.keys(baseShape);
  const parts = [
    '# Configuration',
    "> Generated by `tools/generate-config-docs.js` from the zod schemas that parse each service's\n" +
      '> environment (`libs/runtime/src/config.ts` and `services/*/src/config.ts`); do not edit it here.\n' +
      "> Change a schema's `.describe()` and run `npm run contracts:generate`; `npm run contracts:check`\n" +
      '> (in CI) fails when this page is stale.',
    'Each service validates its environment at start (zod) and exits with every bad variable named.\n' +
      'Secrets (tokens, keys, signatures) are redacted from logs by field name and never logged by the code.',
    'Every HTTP server bounds slow clients: the headers within 10 s, the whole request within 30 s (a\n' +
      'response may take longer), an idle keep-alive connection closed after 5 s (`HTTP_TIMEOUTS` in\n' +
      "`libs/runtime/src/bootstrap.ts`, instead of Node's 60 s / 300 s). Its listen queue holds 4,096\n" +
      "connections not yet accepted (`HTTP_LISTEN_BACKLOG`; Node's default is 511), capped by the host's\n" +
      '`net.core.somaxconn` (4,096 on current Linux kernels, per network namespace, so per pod).',
    '## Every service',
    'Read by all five services (`BaseEnv` in `libs/runtime/src/config.ts`).',
    table(rows(z, baseShape, baseNames)),
  ];
  for (const name of SERVICES) {
    const shape = objectShape(services[name]);
    const own = Object.keys(shape).filter((k) => !baseNames.includes(k));
    parts.push(`## ${name}`, `Besides [every service's](#every-service): \`services/${name}/src/config.ts\`.`);
    parts.push(table(rows(z, shape, own)));
  }
  parts.push(
    '## Read outside the service schemas',
    table(
      OUTSIDE_SCHEMAS.map(
        ([name, def, by, meaning]) => `| ${name} | string | ${cell(def)} | ${cell(`${by}: ${meaning}`)} |`,
      ),
    ),
    '## Elsewhere',
    '- The CLI: [CLI reference → Environment](cli.md#environment).\n' +
      "- Docker Compose (each service's signing key, NATS passwords, Slack): [Operations → Running with Docker\n" +
      '  Compose](operations.md#running-with-docker-compose).\n' +
      "- The NATS cluster's node settings: [Operations → A NATS cluster](operations.md#a-nats-cluster).\n" +
      '- Upstream MCP servers (the file `WARDEN_MCP_SERVERS` names): [Workers → Upstream MCP\n' +
      '  servers](services/workers.md#upstream-mcp-servers-the-proxy).',
  );
  return `${parts.join('\n\n')}\n`;
}

function main(argv) {
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`unknown argument(s): ${unknown.join(' ')}\nUsage: node tools/generate-config-docs.js [--check]`);
    return 2;
  }
  const page = renderConfigDocs();
  const rel = path.relative(ROOT, PAGE);
  if (check) {
    const onDisk = fs.existsSync(PAGE) ? fs.readFileSync(PAGE, 'utf8') : undefined;
    if (onDisk !== page) {
      console.error(
        `${rel} is ${onDisk === undefined ? 'missing' : 'out of date'} with the config schemas.\nRun "npm run contracts:generate" and commit it.`,
      );
      return 1;
    }
    console.log(`${rel} up to date`);
    return 0;
  }
  fs.writeFileSync(PAGE, page);
  console.log(`wrote ${rel}`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exitCode = 1;
  }
}

module.exports = { renderConfigDocs, loadSchemas, main, SERVICES };
