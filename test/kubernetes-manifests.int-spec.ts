import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { randomBytes } from 'node:crypto';
import { PRODUCERS, Subjects } from '@warden/contracts';
import { deriveProducerSeed, loadKeyring, ownPublicKey } from '@warden/kernel';
import { loadConfig as ingestConfig } from '../services/ingest/src/config';
import { loadConfig as policyConfig } from '../services/policy/src/config';
import { loadConfig as orchestratorConfig } from '../services/orchestrator/src/config';
import { auditKeysFromConfig } from '../services/orchestrator/src/audit/audit-key';
import { loadConfig as approvalsConfig } from '../services/approvals/src/config';
import { loadConfig as workersConfig } from '../services/workers/src/config';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a plain-JS tool, used by CI and by hand
const { build } = require('../tools/lib/kustomize.js') as { build(dir: string): unknown[] };

const ROOT = join(__dirname, '..');
const K8S = join(ROOT, 'deploy', 'kubernetes');
const OVERLAYS = ['dev', 'production', 'production-keda'];
const SERVICES = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'] as const;
const ROLES = ['dev', 'research', 'outreach'];

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are plain YAML objects */
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: any };
  spec?: any;
  data?: any;
};

/**
 * The kubernetes-models class for an object's apiVersion/kind: the JSON schemas of the Kubernetes
 * API (and KEDA's CRD) compiled to validators, offline. An unknown kind is an error, not a pass.
 */
function modelFor(o: Obj): new (data: unknown) => { validate(): void } {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [undefined, o.apiVersion];
  const module =
    group === 'keda.sh'
      ? `@kubernetes-models/keda/${o.apiVersion}/${o.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- one module per kind, chosen at run time
  const mod = require(module) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  return Model;
}

const rendered = new Map(OVERLAYS.map((o) => [o, build(join(K8S, 'overlays', o)) as Obj[]]));
const of = (overlay: string, kind: string) => rendered.get(overlay)!.filter((o) => o.kind === kind);
const deployments = (overlay: string) => of(overlay, 'Deployment');
const container = (d: Obj) => d.spec.template.spec.containers[0];
const envOf = (d: Obj) => new Map<string, any>(container(d).env.map((e: any) => [e.name, e]));
const serviceOf = (d: Obj) => d.spec.template.metadata.labels['app.kubernetes.io/component'] as string;

describe.each(OVERLAYS)('deploy/kubernetes/overlays/%s renders to valid Kubernetes manifests', (overlay) => {
  const objs = rendered.get(overlay)!;

  it('every manifest validates against the Kubernetes (and KEDA) schemas', () => {
    const errors: string[] = [];
    for (const o of objs) {
      try {
        new (modelFor(o))(o).validate();
      } catch (err) {
        errors.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
      }
    }
    expect(errors).toEqual([]);
    expect(objs.length).toBeGreaterThan(30);
  });

  it('names are unique per kind, everything lands in the overlay namespace, and no Secret is shipped', () => {
    const keys = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    const ns = overlay === 'dev' ? 'warden-dev' : 'warden';
    expect(objs.filter((o) => o.metadata.namespace !== ns).map((o) => o.kind)).toEqual([]);
    expect(of(overlay, 'Secret')).toEqual([]);
  });

  it('the five services run, with one workers Deployment per role and its own workspace', () => {
    expect(new Set(deployments(overlay).map(serviceOf))).toEqual(new Set(SERVICES));
    const workers = deployments(overlay).filter((d) => serviceOf(d) === 'workers');
    expect(workers.map((d) => envOf(d).get('WORKER_ROLES').value).sort()).toEqual([...ROLES].sort());
    const claims = workers.map(
      (d) => d.spec.template.spec.volumes.find((v: any) => v.name === 'workspace').persistentVolumeClaim.claimName,
    );
    expect(new Set(claims).size).toBe(ROLES.length);
    for (const c of claims) expect(of(overlay, 'PersistentVolumeClaim').map((p) => p.metadata.name)).toContain(c);
    // policy reads the dev workspace to resolve symlinks, and only reads it
    const policy = deployments(overlay).find((d) => serviceOf(d) === 'policy')!;
    const ws = policy.spec.template.spec.volumes.find((v: any) => v.persistentVolumeClaim);
    expect(ws.persistentVolumeClaim).toEqual({ claimName: 'warden-workspace-dev', readOnly: true });
    expect(container(policy).volumeMounts.find((m: any) => m.name === ws.name)).toMatchObject({
      readOnly: true,
      mountPath: envOf(policy).get('WARDEN_WORKSPACE').value,
    });
  });

  it.each(SERVICES)(
    '%s: probes on the health routes, hardened, bound to every interface, secrets by reference',
    (service) => {
      const config = of(overlay, 'ConfigMap').find((c) => c.metadata.name === 'warden-config')!;
      expect(config.data.WARDEN_HOST).toBe('0.0.0.0');
      expect(config.data.WARDEN_STREAM_REPLICAS).toBe(overlay === 'dev' ? '1' : '3');
      for (const d of deployments(overlay).filter((x) => serviceOf(x) === service)) {
        const pod = d.spec.template.spec;
        const c = container(d);
        expect(d.spec.selector.matchLabels).toEqual(expect.objectContaining({}));
        for (const [k, v] of Object.entries(d.spec.selector.matchLabels))
          expect(d.spec.template.metadata.labels[k]).toBe(v);
        expect(c.startupProbe.httpGet.path).toBe('/health/live');
        expect(c.livenessProbe.httpGet.path).toBe('/health/live');
        expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.securityContext.capabilities.add).toBeUndefined();
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(c.envFrom).toContainEqual({ configMapRef: { name: 'warden-config' } });
        expect(c.resources.requests.cpu).toBeDefined(); // CPU autoscaling needs a request
        const env = envOf(d);
        // its own signing key, from its own Secret; everything secret by reference, never a value
        expect(env.get('WARDEN_SIGNING_KEY').valueFrom.secretKeyRef).toEqual({
          name: `warden-${service}`,
          key: 'WARDEN_SIGNING_KEY',
        });
        expect(env.get('WARDEN_PRODUCER_KEYS').valueFrom.secretKeyRef.name).toBe('warden-producer-keys');
        for (const name of [
          'NATS_URL',
          'DATABASE_URL',
          'REDIS_URL',
          'WARDEN_SECRETS_KEY',
          'WARDEN_BOOTSTRAP_ADMIN_TOKEN',
          'SLACK_BOT_TOKEN',
          'SLACK_SIGNING_SECRET',
        ])
          if (env.has(name))
            expect({ name, ref: env.get(name).valueFrom?.secretKeyRef?.name }).toEqual({
              name,
              ref: expect.any(String),
            });
        expect(env.has('WARDEN_KEYRING_SEED')).toBe(false);
        expect(env.has('WARDEN_SECRETS_KEY')).toBe(service === 'ingest');
        expect(env.has('REDIS_URL')).toBe(['ingest', 'policy', 'approvals'].includes(service));
        // the port the probes use is the one the service listens on
        expect(env.get(`${service.toUpperCase()}_PORT`).value).toBe(String(c.ports[0].containerPort));
        // a PodDisruptionBudget and a Service select exactly this Deployment's pods
        const name = d.metadata.name;
        expect(
          of(overlay, 'PodDisruptionBudget').find(
            (p) => p.spec.selector.matchLabels['app.kubernetes.io/name'] === name,
          ),
        ).toBeDefined();
        expect(of(overlay, 'Service').find((s) => s.spec.selector['app.kubernetes.io/name'] === name)).toBeDefined();
      }
    },
  );

  it.each(SERVICES)(
    '%s: the environment a pod gets (ConfigMap, values, Secrets filled in) passes the service config, as production',
    (service) => {
      const seed = randomBytes(32).toString('base64');
      // placeholder Secret values of the right shape: what an operator would put in each key
      const secretValue = (key: string): string | undefined =>
        ({
          WARDEN_SIGNING_KEY: deriveProducerSeed(seed, service).toString('base64'),
          WARDEN_PRODUCER_KEYS: PRODUCERS.map(
            (p) => `${p}=${ownPublicKey(loadKeyring({ self: p, keyringSeed: seed }, PRODUCERS))}`,
          ).join(','),
          WARDEN_AUDIT_KEY: randomBytes(32).toString('base64'),
          WARDEN_SECRETS_KEY: randomBytes(32).toString('base64'),
          NATS_URL: `nats://${service}:pw@nats-0.nats-headless:4222,nats://${service}:pw@nats-1.nats-headless:4222`,
          DATABASE_URL: 'postgres://warden:pw@postgresql:5432/warden',
          REDIS_URL: 'redis://:pw@redis:6379',
        })[key];
      const config = of(overlay, 'ConfigMap').find((c) => c.metadata.name === 'warden-config')!;
      const load: Record<string, (env: Record<string, string | undefined>) => unknown> = {
        ingest: ingestConfig,
        policy: policyConfig,
        orchestrator: (env) => auditKeysFromConfig(orchestratorConfig(env) as never),
        approvals: approvalsConfig,
        workers: workersConfig,
      };
      for (const d of deployments(overlay).filter((x) => serviceOf(x) === service)) {
        const env: Record<string, string | undefined> = { ...config.data };
        for (const e of container(d).env) {
          if ('value' in e) env[e.name] = e.value;
          else if (e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional)
            env[e.name] = secretValue(e.valueFrom.secretKeyRef.key);
          else if (e.valueFrom?.fieldRef) env[e.name] = `${d.metadata.name}-abc12`;
        }
        expect(env.NODE_ENV).toBe('production');
        expect(() => load[service]!(env)).not.toThrow();
        // and the service's own signing key is what it signs with: it refuses to start without one
        expect(() =>
          loadKeyring(
            { self: service, signingKey: env.WARDEN_SIGNING_KEY, producerKeys: env.WARDEN_PRODUCER_KEYS },
            PRODUCERS,
          ),
        ).not.toThrow();
      }
    },
  );

  it('autoscaling covers every service that shares work through durable consumers, never the orchestrator', () => {
    const scaled =
      overlay === 'dev' ? [] : of(overlay, overlay === 'production-keda' ? 'ScaledObject' : 'HorizontalPodAutoscaler');
    expect(of(overlay, overlay === 'production-keda' ? 'HorizontalPodAutoscaler' : 'ScaledObject')).toEqual([]);
    const targets = scaled.map((h) => h.spec.scaleTargetRef.name).sort();
    const expected =
      overlay === 'dev'
        ? []
        : deployments(overlay)
            .map((d) => d.metadata.name)
            .filter((n) => n !== 'warden-orchestrator')
            .sort();
    expect(targets).toEqual(expected);
    if (overlay !== 'production-keda') return;
    // the lag triggers name streams and durable consumers that exist
    const s = new Subjects('warden');
    const streams = new Set<string>(Object.values(s.streams));
    for (const so of scaled)
      for (const trig of so.spec.triggers.filter((x: any) => x.type === 'nats-jetstream')) {
        expect(streams).toContain(trig.metadata.stream);
        const role = /^warden-workers-(\w+)$/.exec(so.metadata.name)?.[1];
        if (role) expect(trig.metadata.consumer).toBe(`workers-execute-${role}`);
      }
  });

  it('NetworkPolicies: deny by default, Redis only for the services that use it, one HTTP path between services', () => {
    const nps = of(overlay, 'NetworkPolicy');
    const matches = (sel: any, labels: Record<string, string>) =>
      Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
      (sel.matchExpressions ?? []).every((e: any) => e.operator === 'In' && e.values.includes(labels[e.key]));
    for (const d of deployments(overlay)) {
      const labels = d.spec.template.metadata.labels;
      const applying = nps.filter((np) => matches(np.spec.podSelector, labels));
      const deny = applying.find((np) => !np.spec.ingress && !np.spec.egress);
      expect({ d: d.metadata.name, deny: deny?.spec.policyTypes }).toEqual({
        d: d.metadata.name,
        deny: ['Ingress', 'Egress'],
      });
      const egressTo = (name: string) =>
        applying.some((np) =>
          (np.spec.egress ?? []).some((e: any) =>
            (e.to ?? []).some((t: any) => t.podSelector?.matchLabels?.['app.kubernetes.io/name'] === name),
          ),
        );
      expect({ d: d.metadata.name, nats: egressTo('nats'), pg: egressTo('postgresql') }).toEqual({
        d: d.metadata.name,
        nats: true,
        pg: true,
      });
      expect({ d: d.metadata.name, redis: egressTo('redis') }).toEqual({
        d: d.metadata.name,
        redis: envOf(d).has('REDIS_URL'),
      });
      expect({ d: d.metadata.name, orchestrator: egressTo('warden-orchestrator') }).toEqual({
        d: d.metadata.name,
        orchestrator: serviceOf(d) === 'ingest',
      });
      if (serviceOf(d) === 'ingest')
        expect(envOf(d).get('ORCHESTRATOR_URL').value).toBe('http://warden-orchestrator:7103');
    }
  });
});

describe('deploy/kubernetes/nats-values.yaml (the official NATS Helm chart)', () => {
  it('asks for a 3-node JetStream cluster on file storage with sync_interval: always', () => {
    const v = parse(readFileSync(join(K8S, 'nats-values.yaml'), 'utf8'));
    expect(v.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(v.config.jetstream).toMatchObject({
      enabled: true,
      fileStore: { enabled: true, pvc: { enabled: true } },
      merge: { sync_interval: 'always' },
    });
  });
});

describe('the checks above can fail', () => {
  it('the schema validator refuses a Deployment with a wrong type or a missing required field', () => {
    const d = structuredClone(deployments('production')[0]!);
    d.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new (modelFor(d))(d).validate()).toThrow(/containerPort/);
    const e = structuredClone(deployments('production')[0]!);
    delete e.spec.selector;
    expect(() => new (modelFor(e))(e).validate()).toThrow(/selector/);
  });

  it('an unknown kind has no schema rather than passing', () => {
    expect(() => modelFor({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toThrow();
  });
});
