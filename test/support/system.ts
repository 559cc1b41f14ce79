import type { INestApplication } from '@nestjs/common';
import { startService } from '@warden/runtime';
import { PRODUCERS } from '@warden/contracts';
import { deriveProducerSeed, ownPublicKey } from '@warden/kernel';
import { TEST_KEYRING_SEED, testKeyring, type TestEnv } from '@warden/testing';
import { AppModule as IngestModule } from '../../services/ingest/src/app.module';
import { loadConfig as ingestConfig } from '../../services/ingest/src/config';
import { AppModule as PolicyModule } from '../../services/policy/src/app.module';
import { loadConfig as policyConfig } from '../../services/policy/src/config';
import { AppModule as OrchestratorModule } from '../../services/orchestrator/src/app.module';
import { loadConfig as orchestratorConfig } from '../../services/orchestrator/src/config';
import { AppModule as ApprovalsModule } from '../../services/approvals/src/app.module';
import { loadConfig as approvalsConfig } from '../../services/approvals/src/config';
import { AppModule as WorkersModule } from '../../services/workers/src/app.module';
import { loadConfig as workersConfig } from '../../services/workers/src/config';

export type ServiceName = 'ingest' | 'policy' | 'orchestrator' | 'approvals' | 'workers';
export const SERVICES: ServiceName[] = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'];

/** A service's own WARDEN_SIGNING_KEY and every producer's public key, from the test keyring seed. */
export function productionKeys(name: ServiceName): Record<string, string | undefined> {
  const publicKeys = PRODUCERS.map((p) => `${p}=${ownPublicKey(testKeyring(p))}`).join(',');
  return {
    WARDEN_KEYRING_SEED: undefined,
    WARDEN_SIGNING_KEY: deriveProducerSeed(TEST_KEYRING_SEED, name).toString('base64'),
    WARDEN_PRODUCER_KEYS: publicKeys,
    // the orchestrator's audit key (the others ignore it)
    WARDEN_AUDIT_KEY: deriveProducerSeed(TEST_KEYRING_SEED, 'audit').toString('base64'),
  };
}

/** All five services in this process, on ephemeral ports, sharing the test env's prefix and database. */
export class System {
  readonly apps = new Map<ServiceName, INestApplication>();
  constructor(
    readonly t: TestEnv,
    readonly extraEnv: Record<string, string> = {},
    /** Env for one service only, on top of `extraEnv` (e.g. its own NATS user). */
    readonly serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {},
  ) {}

  env(name?: ServiceName): Record<string, string | undefined> {
    return {
      ...process.env,
      ...this.t.env,
      // as in production: each service holds only its own key and everyone's public keys
      ...(name ? productionKeys(name) : {}),
      ...this.extraEnv,
      ...(name ? this.serviceEnv[name] : {}),
      INGEST_PORT: '0',
      POLICY_PORT: '0',
      ORCHESTRATOR_PORT: '0',
      APPROVALS_PORT: '0',
      WORKERS_PORT: '0',
    };
  }

  async start(name: ServiceName): Promise<INestApplication> {
    const env = this.env(name);
    const app = await (async () => {
      switch (name) {
        case 'ingest':
          return startService(IngestModule.forRoot(ingestConfig(env)), { service: name, port: 0, host: '127.0.0.1' });
        case 'policy':
          return startService(PolicyModule.forRoot(policyConfig(env)), { service: name, port: 0, host: '127.0.0.1' });
        case 'orchestrator':
          return startService(OrchestratorModule.forRoot(orchestratorConfig(env)), {
            service: name,
            port: 0,
            host: '127.0.0.1',
          });
        case 'approvals':
          return startService(ApprovalsModule.forRoot(approvalsConfig(env)), {
            service: name,
            port: 0,
            host: '127.0.0.1',
          });
        case 'workers':
          return startService(WorkersModule.forRoot(workersConfig(env)), { service: name, port: 0, host: '127.0.0.1' });
      }
    })();
    this.apps.set(name, app);
    return app;
  }

  async startAll(): Promise<void> {
    for (const s of SERVICES) await this.start(s);
  }

  async stop(name: ServiceName): Promise<void> {
    const app = this.apps.get(name);
    this.apps.delete(name);
    await app?.close();
  }

  async stopAll(): Promise<void> {
    for (const s of [...this.apps.keys()].reverse()) await this.stop(s);
  }

  url(name: ServiceName): string {
    const app = this.apps.get(name);
    if (!app) throw new Error(`${name} is not running`);
    const addr = app.getHttpServer().address() as { port: number };
    return `http://127.0.0.1:${addr.port}`;
  }
}
