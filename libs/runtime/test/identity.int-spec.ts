import { Controller, Get, Module, Req, type INestApplication, type DynamicModule } from '@nestjs/common';
import { Publisher, makeEnvelope } from '@warden/bus';
import type { EventData, EventType } from '@warden/contracts';
import { newId, newTraceId } from '@warden/kernel';
import { EventAuthenticity } from '@warden/bus';
import { createTestEnv, forgeAs, testKeyring, testPublisher, waitFor, type TestEnv } from '@warden/testing';
import { newSecret, secretHash } from '@warden/identity';
import {
  Auth,
  BaseEnv,
  CoreModule,
  IdentityDirectory,
  IdentityModule,
  parseEnv,
  startService,
  type AuthedRequest,
} from '../src';

const ADMIN = 'identity-test-admin-token-0123456789';

@Controller('t')
class ProbeController {
  @Get('admin')
  @Auth('admin')
  admin(@Req() req: AuthedRequest) {
    return { who: req.principal!.name };
  }
  @Get('approver')
  @Auth('approver')
  approver(@Req() req: AuthedRequest) {
    return { who: req.principal!.name };
  }
  @Get('key')
  @Auth({ apiKey: true })
  key(@Req() req: AuthedRequest) {
    return { who: req.principal!.name, owner: req.principal!.owner };
  }
  @Get('open')
  open() {
    return { ok: true };
  }
}

@Controller('standing')
class StandingProbe {
  constructor(private readonly directory: IdentityDirectory) {}
  @Get()
  list() {
    return this.directory.standingApprovals().map((s) => s.standing_id);
  }
}

function probeApp(env: Record<string, string>): DynamicModule {
  const config = parseEnv(BaseEnv, { ...env, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
  @Module({
    imports: [CoreModule.forRoot({ service: 'identity-probe', config }), IdentityModule],
    controllers: [ProbeController, StandingProbe],
  })
  class ProbeModule {}
  return { module: ProbeModule };
}

describe('IdentityDirectory + @Auth on real NATS (two replicas)', () => {
  let t: TestEnv;
  let publisher: Publisher;
  const apps: INestApplication[] = [];
  const urls: string[] = [];

  const publish = <T extends EventType>(type: T, id: string, data: EventData<T>) =>
    publisher.publishEvent(
      makeEnvelope({ type, runId: null, correlationId: id, producer: 'test', traceId: newTraceId(), data }),
    );
  const get = (i: number, path: string, token?: string) =>
    fetch(`${urls[i]}/t/${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  const opToken = newSecret('wop');
  const opId = newId();
  const keyToken = newSecret('wk');
  const keyId = newId();

  beforeAll(async () => {
    t = await createTestEnv();
    publisher = testPublisher(t);
    // an operator that exists before the replicas start: they must replay it
    await publish('operator_created', opId, {
      operator_id: opId,
      name: 'alice',
      roles: ['approver'],
      max_tier: 2,
      token_hash: secretHash(opToken),
      created_by: 'bootstrap-admin',
    });
    for (let i = 0; i < 2; i++) {
      const app = await startService(probeApp(t.env), { service: 'identity-probe', port: 0, host: '127.0.0.1' });
      apps.push(app);
      urls.push(`http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`);
    }
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await t.cleanup();
  });

  it('401 without or with a bad token, as problem+json', async () => {
    const none = await get(0, 'approver');
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await get(0, 'approver', newSecret('wop'))).status).toBe(401);
    expect((await get(0, 'open')).status).toBe(200);
  });

  it('replays operators created before start; roles give 200 or 403', async () => {
    for (const i of [0, 1]) {
      const ok = await get(i, 'approver', opToken);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ who: 'alice' });
      expect((await get(i, 'admin', opToken)).status).toBe(403);
      expect((await get(i, 'key', opToken)).status).toBe(403);
    }
    expect((await get(0, 'admin', ADMIN)).status).toBe(200);
  });

  it('an API key created on the bus works on both replicas, and only on API-key routes', async () => {
    await publish('api_key_created', keyId, {
      key_id: keyId,
      name: 'ci',
      owner: 'team-a',
      key_hash: secretHash(keyToken),
      created_by: 'bootstrap-admin',
    });
    for (const i of [0, 1]) {
      const r = await waitFor(async () => {
        const res = await get(i, 'key', keyToken);
        return res.status === 200 ? res : undefined;
      }, `key accepted on replica ${i}`);
      expect(await r.json()).toEqual({ who: 'ci', owner: 'team-a' });
      expect((await get(i, 'approver', keyToken)).status).toBe(403);
    }
  });

  it('a revoke takes effect on every replica within 5 s', async () => {
    const t0 = Date.now();
    await publish('api_key_revoked', keyId, { key_id: keyId, by: 'bootstrap-admin' });
    await publish('operator_revoked', opId, { operator_id: opId, by: 'bootstrap-admin' });
    for (const i of [0, 1]) {
      await waitFor(async () => (await get(i, 'key', keyToken)).status === 401, `key refused on replica ${i}`, 5000);
      await waitFor(
        async () => (await get(i, 'approver', opToken)).status === 401,
        `operator refused on replica ${i}`,
        5000,
      );
    }
    expect(Date.now() - t0).toBeLessThan(5000);
  });
  it('forged, unsigned and wrong-producer directory events make nobody an admin, key or standing approval', async () => {
    const adminToken = newSecret('wop');
    const apiToken = newSecret('wk');
    const standingId = newId();
    const forgedOp = newId();
    const forgedKey = newId();
    const env = <T extends EventType>(type: T, id: string, producer: string, data: EventData<T>) =>
      makeEnvelope({ type, runId: null, correlationId: id, producer, traceId: newTraceId(), data });
    const admin = (id: string) =>
      env('operator_created', id, 'approvals', {
        operator_id: id,
        name: 'mallory',
        roles: ['admin'],
        max_tier: 3,
        token_hash: secretHash(adminToken),
        created_by: 'nobody',
      });
    const key = (id: string, producer = 'ingest') =>
      env('api_key_created', id, producer, {
        key_id: id,
        name: 'stolen',
        owner: 'mallory',
        key_hash: secretHash(apiToken),
        created_by: 'nobody',
      });
    const standing = env('standing_approval_granted', standingId, 'approvals', {
      standing_id: standingId,
      approval_id: newId(),
      scope: 'agent',
      agent_id: 'agent-x',
      tool: 'deploy.production',
      max_tier: 3,
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      granted_by: ['nobody'],
    });
    const unsigned = admin(newId());
    // signed by the ingest's real key, claiming to be the ingest: but only approvals creates operators
    const wrongProducer = new EventAuthenticity(testKeyring('ingest')).seal({ ...admin(newId()), producer: 'ingest' });
    const raw = [
      forgeAs(admin(forgedOp)),
      forgeAs(key(forgedKey)),
      forgeAs(standing),
      { ...unsigned, sig: undefined },
      wrongProducer,
      new EventAuthenticity(testKeyring('approvals')).seal({ ...key(newId(), 'approvals') }),
    ];
    for (const e of raw) {
      await t.bus.js.publish(t.subjects.directory(e.correlation_id, e.type), JSON.stringify(e), { msgID: e.id });
    }
    // a genuine event published after them arrives, so the forgeries have been read (and refused) by then
    const lateId = newId();
    const lateToken = newSecret('wop');
    await publish('operator_created', lateId, {
      operator_id: lateId,
      name: 'bob',
      roles: ['viewer'],
      max_tier: 1,
      token_hash: secretHash(lateToken),
      created_by: 'bootstrap-admin',
    });
    for (const i of [0, 1]) {
      await waitFor(async () => (await get(i, 'approver', lateToken)).status === 403, `bob known on replica ${i}`);
      expect((await get(i, 'admin', adminToken)).status).toBe(401);
      expect((await get(i, 'key', apiToken)).status).toBe(401);
      const list = (await (await fetch(`${urls[i]}/standing`)).json()) as string[];
      expect(list).not.toContain(standingId);
    }
    const metrics = await (await fetch(`${urls[0]}/metrics`)).text();
    const refused = metrics
      .split('\n')
      .filter((l) => l.startsWith('warden_security_forged_events_total{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    expect(refused).toBeGreaterThanOrEqual(raw.length);
  });
});
