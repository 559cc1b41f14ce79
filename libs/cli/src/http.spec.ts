import * as http from 'node:http';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CliError } from './errors';
import * as lib from './http';
import { report } from './program';

interface Seen {
  method?: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A fake service answering every request with [status, body]. */
async function service(status: number, body: unknown) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += String(c)));
    req.on('end', () => {
      seen.push({ method: req.method, headers: req.headers, body: data });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise((r) => server.close(r)) };
}

const emptyRoot = mkdtempSync(join(tmpdir(), 'warden-cli-http-'));
const io = (env: Record<string, string>) => ({
  env,
  root: emptyRoot,
  stdout: { write: () => true },
  stderr: { write: () => true },
});

describe('the shared CLI HTTP helpers', () => {
  it('finds the token in WARDEN_TOKEN, then WARDEN_BOOTSTRAP_ADMIN_TOKEN, then var/admin.token', () => {
    const root = mkdtempSync(join(tmpdir(), 'warden-cli-token-'));
    expect(lib.operatorToken({}, root)).toBeUndefined();
    mkdirSync(join(root, 'var'));
    writeFileSync(join(root, 'var', 'admin.token'), 'from-file\n');
    expect(lib.operatorToken({}, root)).toBe('from-file');
    expect(lib.operatorToken({ WARDEN_BOOTSTRAP_ADMIN_TOKEN: 'boot' }, root)).toBe('boot');
    expect(lib.operatorToken({ WARDEN_TOKEN: 'op', WARDEN_BOOTSTRAP_ADMIN_TOKEN: 'boot' }, root)).toBe('op');
  });

  it('describes a problem with its field errors, and any other body cut short', () => {
    expect(
      lib.describeProblem({
        status: 400,
        body: { title: 'Bad Request', detail: 'invalid', errors: [{ path: 'a.b', message: 'no' }, { message: 'x' }] },
      }),
    ).toBe('400 Bad Request: invalid\n  a.b: no\n  (root): x');
    expect(lib.describeProblem({ status: 502, body: 'x'.repeat(400) })).toBe(`502 ${'x'.repeat(300)}`);
  });

  it('sends the token, its fixed headers and a JSON body; returns the body of a 2xx', async () => {
    const s = await service(201, { id: 'k1' });
    try {
      const api = lib.apiClient({ name: 'svc', service: 'ingest', urlVar: 'SVC_URL', headers: { 'x-a': '1' } });
      await expect(
        api.call(io({ SVC_URL: `${s.url}/`, WARDEN_TOKEN: 't0' }), 'POST', '/v1/k', { n: 1 }),
      ).resolves.toEqual({ id: 'k1' });
      expect(s.seen[0]).toMatchObject({
        method: 'POST',
        body: '{"n":1}',
        headers: { authorization: 'Bearer t0', 'x-a': '1', 'content-type': 'application/json' },
      });
    } finally {
      await s.close();
    }
  });

  it('turns 401 and 403 into errors that say what to do about the token', async () => {
    const s401 = await service(401, { title: 'Unauthorized' });
    const s403 = await service(403, { title: 'Forbidden' });
    try {
      const opts = { name: 'svc', service: 'ingest' as const, urlVar: 'SVC_URL', forbidden: 'needs admin' };
      const api = lib.apiClient(opts);
      await expect(api.call(io({ SVC_URL: s401.url }), 'GET', '/')).rejects.toThrow(
        '401 Unauthorized\nno token: set WARDEN_TOKEN (or WARDEN_BOOTSTRAP_ADMIN_TOKEN)',
      );
      await expect(api.call(io({ SVC_URL: s401.url, WARDEN_TOKEN: 'bad' }), 'GET', '/')).rejects.toThrow(
        '401 Unauthorized\nthe token was refused',
      );
      await expect(api.call(io({ SVC_URL: s403.url, WARDEN_TOKEN: 'v' }), 'GET', '/')).rejects.toThrow(
        '403 Forbidden\nneeds admin',
      );
    } finally {
      await s401.close();
      await s403.close();
    }
  });

  it('names the service and URL it cannot reach', async () => {
    const api = lib.apiClient({ name: 'the thing', service: 'ingest', urlVar: 'SVC_URL' });
    await expect(api.call(io({ SVC_URL: 'http://127.0.0.1:1' }), 'GET', '/v1/x')).rejects.toThrow(
      /^cannot reach the thing at http:\/\/127\.0\.0\.1:1\/v1\/x: /,
    );
  });

  it('prints a CliError as "warden: …" with exit 1, a usage error with exit 2, anything else with its stack', () => {
    let err = '';
    const out = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, env: {} };
    expect(report(new CliError('nope'), out)).toBe(1);
    expect(err).toBe('warden: nope\n');
    err = '';
    expect(report(new TypeError('bug'), out)).toBe(1);
    expect(err).toMatch(/^warden: TypeError: bug\n {4}at /);
  });

  it("prints a validation problem's field errors once, not again as its detail (policy push)", () => {
    const body = {
      type: 'urn:warden:error:VALIDATION.FAILED',
      title: 'VALIDATION.FAILED',
      status: 400,
      detail: 'rules: Too small: expected array to have >=1 items; tiers: required',
      errors: [
        { path: 'rules', message: 'Too small: expected array to have >=1 items' },
        { path: 'tiers', message: 'required' },
      ],
    };
    const text = lib.describeProblem({ status: 400, body });
    expect(text).toBe('400 VALIDATION.FAILED\n  rules: Too small: expected array to have >=1 items\n  tiers: required');
    expect(text.split('Too small').length).toBe(2);
  });

  it('a 403 that explains itself gets no role hint: self-approval says the agent cannot approve its own run', () => {
    const self = {
      status: 403,
      hadToken: true,
      body: { title: 'AUTH.FORBIDDEN', detail: 'the requesting agent cannot vote on its own action' },
    };
    expect(lib.authHint(self, 'the token lacks the role (or max_tier) this needs')).toBeUndefined();
    const role = { ...self, body: { title: 'AUTH.FORBIDDEN', detail: 'requires role approver' } };
    expect(lib.authHint(role, 'the token lacks the role (or max_tier) this needs')).toBe(
      'the token lacks the role (or max_tier) this needs',
    );
    const tier = { ...self, body: { title: 'AUTH.FORBIDDEN', detail: 'operator max_tier 1 does not cover tier 3' } };
    expect(lib.authHint(tier, 'x')).toBe('x');
    expect(lib.authHint({ status: 403, body: { title: 'Forbidden' } }, 'x')).toBe('x');
  });
});
