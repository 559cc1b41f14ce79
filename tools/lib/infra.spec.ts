import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as infra from './infra';

function listen(): Promise<net.Server> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function closedPort(): Promise<number> {
  const server = await listen();
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('parseHostPort', () => {
  it('reads host and port from URLs with and without a scheme', () => {
    expect(infra.parseHostPort('nats://10.0.0.5:4333', 4222)).toEqual({ host: '10.0.0.5', port: 4333 });
    expect(infra.parseHostPort('nats://10.0.0.5', 4222)).toEqual({ host: '10.0.0.5', port: 4222 });
    expect(infra.parseHostPort('127.0.0.1:4333', 4222)).toEqual({ host: '127.0.0.1', port: 4333 });
    expect(infra.parseHostPort('postgres://u:p@db.local/warden', 5432)).toEqual({ host: 'db.local', port: 5432 });
    expect(infra.parseHostPort('redis://[::1]:6380', 6379)).toEqual({ host: '::1', port: 6380 });
  });

  it('takes the first server of a comma-separated NATS list', () => {
    expect(infra.parseHostPort('nats://a:1, nats://b:2', 4222)).toEqual({ host: 'a', port: 1 });
  });

  it('fails clearly on something that is not a URL', () => {
    expect(() => infra.parseHostPort('nats://exa mple:x', 4222)).toThrow(/cannot parse/);
  });
});

describe('infraTargets', () => {
  it('uses the developer defaults when the env is empty', () => {
    expect(infra.infraTargets({}).map((t: { name: string; port: number }) => [t.name, t.port])).toEqual([
      ['nats', 4222],
      ['postgres', 5432],
      ['redis', 6379],
    ]);
  });
});

describe('checkTcp / checkInfrastructure', () => {
  it('answers ok for a listening port and names the error for a closed one', async () => {
    const server = await listen();
    const port = (server.address() as net.AddressInfo).port;
    try {
      await expect(infra.checkTcp('127.0.0.1', port, 2000)).resolves.toEqual({ ok: true });
    } finally {
      await new Promise((r) => server.close(r));
    }
    await expect(infra.checkTcp('127.0.0.1', await closedPort(), 2000)).resolves.toEqual({
      ok: false,
      error: 'ECONNREFUSED',
    });
  });

  it('reports which server is down and how to start it', async () => {
    const server = await listen();
    const up = (server.address() as net.AddressInfo).port;
    const down = await closedPort();
    try {
      const results = await infra.checkInfrastructure({
        NATS_URL: `nats://127.0.0.1:${up}`,
        DATABASE_URL: `postgres://postgres@127.0.0.1:${up}/x`,
        REDIS_URL: `redis://127.0.0.1:${down}`,
      });
      expect(results.map((r: { name: string; ok: boolean }) => [r.name, r.ok])).toEqual([
        ['nats', true],
        ['postgres', true],
        ['redis', false],
      ]);
      const report = infra.formatInfraReport(results);
      expect(report).toContain(`Redis is not reachable at 127.0.0.1:${down} (REDIS_URL)`);
      expect(report).toContain(infra.START_HINTS.redis);
      expect(report).toContain('docker compose up -d redis');
      expect(report).not.toContain('Postgres is not reachable');
      expect(infra.formatInfraReport(results.filter((r: { ok: boolean }) => r.ok))).toBe('');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('does not suggest local start commands for a remote host', () => {
    const report = infra.formatInfraReport([
      { name: 'nats', label: 'NATS', envVar: 'NATS_URL', host: 'nats.prod', port: 4222, ok: false, error: 'ENOTFOUND' },
    ]);
    expect(report).toContain('nats.prod is not this machine');
    expect(report).not.toContain('start-stop-daemon');
  });
});

describe('ensureKeyringSeed', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-infra-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('creates var/signing.key once (32 bytes, mode 0600) and reuses it', () => {
    const first = infra.ensureKeyringSeed({}, root);
    const file = path.join(root, 'var', 'signing.key');
    expect(first).toMatchObject({ source: file, created: true });
    expect(Buffer.from(first.key, 'base64')).toHaveLength(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const second = infra.ensureKeyringSeed({}, root);
    expect(second).toMatchObject({ key: first.key, created: false });
  });

  it('tightens a key file that others can read', () => {
    infra.ensureKeyringSeed({}, root);
    const file = path.join(root, 'var', 'signing.key');
    fs.chmodSync(file, 0o644);
    infra.ensureKeyringSeed({}, root);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('creates var/secrets.key the same way, distinct from the signing key; env wins', () => {
    const signing = infra.ensureKeyringSeed({}, root);
    const first = infra.ensureSecretsKey({}, root);
    expect(first).toMatchObject({ source: path.join(root, 'var', 'secrets.key'), created: true });
    expect(Buffer.from(first.key, 'base64')).toHaveLength(32);
    expect(first.key).not.toBe(signing.key);
    expect(infra.ensureSecretsKey({}, root)).toMatchObject({ key: first.key, created: false });
    const key = Buffer.alloc(32, 9).toString('base64');
    expect(infra.ensureSecretsKey({ WARDEN_SECRETS_KEY: key }, root)).toEqual({ key, source: 'env', created: false });
    expect(() => infra.ensureSecretsKey({ WARDEN_SECRETS_KEY: 'short' }, root)).toThrow(/WARDEN_SECRETS_KEY/);
  });

  it('prefers WARDEN_KEYRING_SEED and writes no file', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(infra.ensureKeyringSeed({ WARDEN_KEYRING_SEED: key }, root)).toEqual({ key, source: 'env', created: false });
    expect(fs.existsSync(path.join(root, 'var'))).toBe(false);
  });

  it('refuses a malformed key from env or file', () => {
    expect(() => infra.ensureKeyringSeed({ WARDEN_KEYRING_SEED: 'c2hvcnQ=' }, root)).toThrow(
      /WARDEN_KEYRING_SEED must be 32 bytes/,
    );
    fs.mkdirSync(path.join(root, 'var'));
    fs.writeFileSync(path.join(root, 'var', 'signing.key'), 'not-a-key\n');
    expect(() => infra.ensureKeyringSeed({}, root)).toThrow(/signing\.key must be 32 bytes/);
  });

  it('accepts a hex key', () => {
    const hex = 'ab'.repeat(32);
    expect(infra.decodeKey32(hex, 'k')).toHaveLength(32);
  });
});

describe('ensureDevAdminToken', () => {
  it('creates a random token file once, or uses the env token', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-infra-'));
    try {
      const a = infra.ensureDevAdminToken({}, root);
      expect(a.created).toBe(true);
      expect(a.token.length).toBeGreaterThanOrEqual(40);
      expect(infra.ensureDevAdminToken({}, root).token).toBe(a.token);
      expect(infra.ensureDevAdminToken({ WARDEN_BOOTSTRAP_ADMIN_TOKEN: 'x'.repeat(20) }, root).source).toBe('env');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
