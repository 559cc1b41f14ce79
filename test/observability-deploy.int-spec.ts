import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createTestEnv, type TestEnv } from '@warden/testing';
import { System } from './support/system';

const ROOT = join(__dirname, '..');
const PROM = join(ROOT, 'deploy/prometheus');
const DASHBOARDS = join(ROOT, 'deploy/grafana/dashboards');

interface Compose {
  services: Record<string, { profiles?: string[]; environment?: Record<string, unknown>; volumes?: string[] }>;
}
interface PromConfig {
  rule_files?: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
}
interface Dashboard {
  uid: string;
  panels: { title: string; targets: { expr: string }[] }[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as Compose;
const prom = parse(readFileSync(join(PROM, 'prometheus.yml'), 'utf8')) as PromConfig;
const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard);

/** Every rule file's recording rule names. */
function recordedNames(): Set<string> {
  const names = new Set<string>();
  for (const f of readdirSync(join(PROM, 'rules')).filter((f) => f.endsWith('.yml'))) {
    const doc = parse(readFileSync(join(PROM, 'rules', f), 'utf8')) as {
      groups: { rules: { record?: string }[] }[];
    };
    for (const g of doc.groups) for (const r of g.rules) if (r.record) names.add(r.record);
  }
  return names;
}

/** Metric names a PromQL expression reads (Warden's own, recorded ones, and `up`). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/\b(warden[_:][a-zA-Z0-9_:]+|up)\b/g)].map((m) => m[1]!);
}

describe('deploy: Prometheus scrapes what compose runs', () => {
  it('has one scrape target per Warden container in docker-compose.yml, on its port', () => {
    const ports: Record<string, number> = { ingest: 7101, policy: 7102, orchestrator: 7103, approvals: 7104 };
    const wardenServices = Object.keys(compose.services).filter((n) => n in ports || n.startsWith('workers'));
    const expected = wardenServices.map((n) => `${n}:${ports[n] ?? 7105}`).sort();
    const targets = prom.scrape_configs
      .filter((c) => c.job_name === 'warden')
      .flatMap((c) => c.static_configs.flatMap((s) => s.targets))
      .sort();
    expect(targets).toEqual(expected);
    expect(targets).toEqual(expect.arrayContaining(['workers-dev:7105', 'workers-research:7105']));
    expect(targets).not.toContain('workers:7105');
  });

  it('loads the rules and provisions Grafana in the observability profile', () => {
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/*.yml']);
    expect(compose.services.prometheus!.volumes).toContain('./deploy/prometheus/rules:/etc/prometheus/rules:ro');
    expect(compose.services.grafana!.profiles).toEqual(['observability']);
    expect(compose.services['otel-collector']!.profiles).toEqual(['observability']);
    expect(compose.services.grafana!.volumes).toEqual(
      expect.arrayContaining([
        './deploy/grafana/provisioning:/etc/grafana/provisioning:ro',
        './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
    expect(dashboards.map((d) => d.uid).sort()).toEqual(
      ['warden-agents', 'warden-approvals', 'warden-bus', 'warden-pipeline', 'warden-policy', 'warden-workers'].sort(),
    );
  });
});

describe('deploy: promtool checks and unit-tests the rules', () => {
  const promtool = (args: string[]) => execFileSync('promtool', args, { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });

  it('promtool check rules passes for every rule file', () => {
    const files = readdirSync(join(PROM, 'rules')).map((f) => join('deploy/prometheus/rules', f));
    expect(promtool(['check', 'rules', ...files])).toMatch(/SUCCESS/);
  });

  it('promtool test rules passes (SLO burn rates, service down, lag, dead letters, agent baselines)', () => {
    const files = readdirSync(join(PROM, 'tests')).map((f) => join('deploy/prometheus/tests', f));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(() => promtool(['test', 'rules', ...files])).not.toThrow();
  });
});

describe('deploy: every dashboard query names metrics the services export', () => {
  let t: TestEnv;
  let sys: System;
  const exported = new Set<string>(['up']);

  beforeAll(async () => {
    t = await createTestEnv();
    sys = new System(t, {}, { orchestrator: { WARDEN_AUDIT_KEY: Buffer.alloc(32, 9).toString('base64') } });
    await sys.startAll();
    for (const s of ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'] as const) {
      const text = await (await fetch(`${sys.url(s)}/metrics`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        const [, name, type] = m;
        exported.add(name!);
        if (type === 'histogram') for (const sfx of ['_bucket', '_sum', '_count']) exported.add(name! + sfx);
      }
    }
  });
  afterAll(async () => {
    await sys?.stopAll();
    await t?.cleanup();
  });

  it('finds the new SRE metrics on /metrics', () => {
    for (const name of [
      'warden_bus_consumer_pending',
      'warden_bus_redeliveries_total',
      'warden_bus_dead_letters_total',
      'warden_run_duration_seconds_bucket',
      'warden_approval_wait_seconds_bucket',
      'warden_workers_execution_seconds_bucket',
      'warden_workers_sandboxes',
      'warden_agent_calls_total',
      'warden_agent_sensitive_operations_total',
      'warden_agent_example_run_info',
    ])
      expect(exported).toContain(name);
  });

  it('dashboards and alert rules read only exported or recorded metrics', () => {
    const recorded = recordedNames();
    const unknown: string[] = [];
    for (const d of dashboards)
      for (const p of d.panels)
        for (const target of p.targets)
          for (const name of metricNames(target.expr))
            if (!exported.has(name) && !recorded.has(name)) unknown.push(`${d.uid} / ${p.title}: ${name}`);
    for (const f of readdirSync(join(PROM, 'rules'))) {
      const doc = parse(readFileSync(join(PROM, 'rules', f), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
      for (const g of doc.groups)
        for (const r of g.rules)
          for (const name of metricNames(r.expr))
            if (!exported.has(name) && !recorded.has(name)) unknown.push(`${f}: ${name}`);
    }
    expect(unknown).toEqual([]);
  });
});
