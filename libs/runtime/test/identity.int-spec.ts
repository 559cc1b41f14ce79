import { Controller, Get, Module, Req, type INestApplication, type DynamicModule } from '@nestjs/common';
import { Publisher, makeEnvelope } from '@warden/bus';
import type { EventData, EventType } from '@warden/contracts';
import { newId, newTraceId } from '@warden/kernel';
import { createTestEnv, waitFor, type TestEnv, testPublisher } from '@warden/testing';
import {
  Auth,
  BaseEnv,
  CoreModule,
  IdentityModule,
  newSecret,
  parseEnv,
  secretHash,
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

function probeApp(env: Record<string, string>): DynamicModule {
  const config = parseEnv(BaseEnv, { ...env, WARDEN_BOOTSTRAP_ADMIN_TOKEN: ADMIN });
  @Module({
    imports: [CoreModule.forRoot({ service: 'identity-probe', config }), IdentityModule],
    controllers: [ProbeController],
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
});
