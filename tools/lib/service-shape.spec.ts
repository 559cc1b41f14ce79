import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';

/**
 * The one service template (docs/architecture.md, "One shape for every service"), held against the tree:
 *
 *   services/<name>/src/{main,instrumentation,config,app.module,projections}.ts
 *   services/<name>/src/migrations/                 the service's only migrations folder
 *   services/<name>/src/<capability>/               one folder per aggregate or process
 *     *.ts                                          the thin shell: module, service (decode → decide → persist/publish), metrics, adapters
 *     domain/                                       pure TypeScript: decide/evolve, rules, errors — no I/O
 *     consumers/                                    reactions to bus messages
 *     http/                                         controllers, request/response schemas, OpenAPI
 *     projections/                                  read-model updaters, their repositories and entities
 */
const ROOT = join(__dirname, '..', '..');
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'] as const;
const ROOT_FILES = new Set(['main.ts', 'instrumentation.ts', 'config.ts', 'app.module.ts', 'projections.ts']);
const CAPABILITY_PARTS = new Set(['domain', 'consumers', 'http', 'projections']);
/** Static assets a capability serves (the dashboard's browser files) are not code and may sit beside http/. */
const ASSET_DIRS = new Set(['static']);

/** What a domain file may import: pure libraries and other domain files. Everything else is I/O or framework. */
const DOMAIN_MAY_IMPORT = [
  /^@warden\/(contracts|kernel|identity|policy-language)$/,
  /^zod$/,
  /^node:(crypto|path|util|url|buffer)$/,
  /^(ipaddr\.js|re2js|minimatch|picomatch|standardwebhooks)$/,
];

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? [path + sep, ...walk(path)] : [path];
  });
}

/** The modules a file loads at run time (type-only imports carry no code, so no I/O: a domain file may name any type). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(
      /^\s*(?:import|export)\s(?!type\s)[^'";]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm,
    ),
  ].map((m) => (m[1] ?? m[2])!);
}

function shapeProblems(src: string): string[] {
  const problems: string[] = [];
  for (const path of walk(src)) {
    const rel = relative(src, path).split(sep).filter(Boolean);
    const isDir = path.endsWith(sep);
    const name = rel[rel.length - 1]!;
    if (rel.length === 1) {
      if (
        isDir
          ? name === 'migrations' || !CAPABILITY_PARTS.has(name)
          : ROOT_FILES.has(name.replace(/\.spec\.ts$/, '.ts'))
      )
        continue;
      problems.push(
        `${rel.join('/')}: src/ holds only ${[...ROOT_FILES].join(', ')}, migrations/ and capability folders`,
      );
      continue;
    }
    const [capability, part] = rel as [string, string];
    if (capability === 'migrations') {
      if (isDir) problems.push(`migrations/${rel.slice(1).join('/')}: migrations/ has no subfolders`);
      continue;
    }
    if (isDir && rel.length === 2 && !CAPABILITY_PARTS.has(part) && !ASSET_DIRS.has(part))
      problems.push(`${rel.join('/')}/: a capability has only domain/, consumers/, http/ and projections/`);
    if (isDir && rel.length > 2 && !ASSET_DIRS.has(part)) problems.push(`${rel.join('/')}/: nested too deep`);
    if (!isDir && name.endsWith('.repository.ts') && part !== 'projections')
      problems.push(`${rel.join('/')}: repositories live beside their projections`);
    if (!isDir && rel.some((r) => r === 'migrations'))
      problems.push(`${rel.join('/')}: migrations live in src/migrations/`);
    if (!isDir && part === 'domain' && name.endsWith('.ts') && !name.endsWith('.spec.ts')) {
      for (const spec of importsOf(path)) {
        const ok = spec.startsWith('.')
          ? relative(join(src, capability), join(path, '..', spec))
              .split(sep)
              .includes('domain') || relative(src, join(path, '..', spec)).split(sep)[1] === 'domain'
          : DOMAIN_MAY_IMPORT.some((re) => re.test(spec));
        if (!ok) problems.push(`${rel.join('/')}: a domain file imports ${spec}`);
      }
    }
    if (!isDir && name.endsWith('.int-spec.ts')) problems.push(`${rel.join('/')}: integration tests live in test/`);
  }
  return problems;
}

describe('every service has the one shape', () => {
  it.each(SERVICES)('%s', (service) => {
    expect(shapeProblems(join(ROOT, 'services', service, 'src'))).toEqual([]);
  });

  it('names each way a tree can leave the shape', () => {
    const src = mkdtempSync(join(tmpdir(), 'shape-'));
    const files: Record<string, string> = {
      'main.ts': '',
      'helpers.ts': '',
      'migrations/1-initial.ts': '',
      'run/run.service.ts': "import { decide } from './domain/run.decide';",
      'run/domain/run.decide.ts': "import { x } from '../../other/domain/x';\nimport { y } from './y';",
      'run/domain/y.ts': '',
      'run/domain/leaky.ts':
        "import { DataSource } from 'typeorm';\nimport { s } from '../run.service';\nimport type { Block } from '@slack/types';",
      'run/repositories/run.repository.ts': '',
      'run/migrations/2-run.ts': '',
      'run/sandbox/pool/pool.ts': '',
      'run/projections/run.repository.ts': '',
      'run/projections/late.int-spec.ts': '',
    };
    try {
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(src, path)), { recursive: true });
        writeFileSync(join(src, path), text);
      }
      expect(shapeProblems(src).sort()).toEqual(
        [
          'helpers.ts: src/ holds only main.ts, instrumentation.ts, config.ts, app.module.ts, projections.ts, migrations/ and capability folders',
          'run/domain/leaky.ts: a domain file imports typeorm',
          'run/domain/leaky.ts: a domain file imports ../run.service',
          'run/migrations/: a capability has only domain/, consumers/, http/ and projections/',
          'run/migrations/2-run.ts: migrations live in src/migrations/',
          'run/repositories/: a capability has only domain/, consumers/, http/ and projections/',
          'run/repositories/run.repository.ts: repositories live beside their projections',
          'run/sandbox/: a capability has only domain/, consumers/, http/ and projections/',
          'run/sandbox/pool/: nested too deep',
          'run/projections/late.int-spec.ts: integration tests live in test/',
        ].sort(),
      );
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  });
});
