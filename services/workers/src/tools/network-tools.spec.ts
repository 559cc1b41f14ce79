import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { hostAllowed } from './domain/host-rules';
import { isPrivateAddress } from './http.tools';
import { runTool } from './run-tool';
import { defaultToolSettings, type ToolSettings } from './domain/tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();

describe('network tools', () => {
  let server: Server;
  let port: number;
  let settings: ToolSettings;
  let base: string;
  const posts: { url: string; auth?: string; body: unknown }[] = [];
  const run = (tool: string, args: Record<string, unknown>, constraints: Record<string, unknown> = {}) =>
    runTool(tools, { tool, args }, { root: base, settings, constraints });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/hello') return res.end('hello world');
        if (req.url === '/big') return res.end('y'.repeat(10_000));
        if (req.url === '/same-host-redirect') return res.writeHead(302, { location: '/hello' }).end();
        if (req.url === '/other-host-redirect') return res.writeHead(302, { location: 'http://example.com/' }).end();
        if (req.url === '/slow') return setTimeout(() => res.end('late'), 2000);
        if (req.url === '/fail') return res.writeHead(500).end('boom');
        posts.push({ url: req.url!, auth: req.headers.authorization, body: body ? JSON.parse(body) : undefined });
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 42, method: req.method }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  beforeEach(() => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-net-'));
    settings = defaultToolSettings({
      http: { allowedHosts: ['127.0.0.1'], allowPrivate: true, maxBytes: 1000, timeoutMs: 500 },
    });
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  describe('http', () => {
    it('gets an allowed host (loopback allowed by configuration)', async () => {
      const r = await run('http.get', { url: `http://127.0.0.1:${port}/hello` });
      expect(r.output).toMatchObject({ status: 200, body: 'hello world', bytes: 11, truncated: false });
      expect(r.output_hash).toMatch(/^sha256:/);
    });

    it('follows a redirect on the same host, refuses one to another host', async () => {
      expect((await run('http.get', { url: `http://127.0.0.1:${port}/same-host-redirect` })).output).toMatchObject({
        body: 'hello world',
      });
      expect((await run('http.get', { url: `http://127.0.0.1:${port}/other-host-redirect` })).error?.code).toBe(
        'HTTP.REDIRECT_REFUSED',
      );
    });

    it('refuses hosts off the allow-list; the decision constraints replace the worker list', async () => {
      expect((await run('http.get', { url: `http://localhost:${port}/hello` })).error?.code).toBe('HTTP.HOST_REFUSED');
      const viaConstraint = await run(
        'http.get',
        { url: `http://localhost:${port}/hello` },
        { http_hosts: ['localhost'] },
      );
      expect(viaConstraint.output).toMatchObject({ body: 'hello world' });
      expect(
        (await run('http.get', { url: `http://127.0.0.1:${port}/hello` }, { http_hosts: ['localhost'] })).error?.code,
      ).toBe('HTTP.HOST_REFUSED');
    });

    it('refuses loopback and private addresses unless allowed', async () => {
      settings.http.allowPrivate = false;
      expect((await run('http.get', { url: `http://127.0.0.1:${port}/hello` })).error?.code).toBe(
        'HTTP.PRIVATE_ADDRESS',
      );
      // a public-looking allowed name that resolves to loopback is refused after DNS
      expect(
        (await run('http.get', { url: `http://localhost:${port}/hello` }, { http_hosts: ['localhost'] })).error?.code,
      ).toBe('HTTP.PRIVATE_ADDRESS');
      expect(isPrivateAddress('10.1.2.3')).toBe(true);
      expect(isPrivateAddress('169.254.169.254')).toBe(true);
      expect(isPrivateAddress('::ffff:127.0.0.1')).toBe(true);
      expect(isPrivateAddress('fd00::1')).toBe(true);
      expect(isPrivateAddress('93.184.216.34')).toBe(false);
      expect(hostAllowed('api.example.com', ['*.example.com'])).toBe(true);
      expect(hostAllowed('example.com.evil.io', ['*.example.com', 'example.com'])).toBe(false);
    });

    it('caps size and time, refuses other schemes and credentials', async () => {
      const big = await run('http.get', { url: `http://127.0.0.1:${port}/big` });
      expect(big.output).toMatchObject({ truncated: true });
      expect((big.output as { body: string }).body).toHaveLength(1000);
      expect((await run('http.get', { url: `http://127.0.0.1:${port}/slow` })).error?.code).toBe('HTTP.TIMEOUT');
      expect((await run('http.get', { url: 'file:///etc/passwd' })).error?.code).toBe('HTTP.SCHEME_REFUSED');
      expect((await run('http.get', { url: `http://u:p@127.0.0.1:${port}/` })).error?.code).toBe('HTTP.INVALID_URL');
      expect((await run('http.get', { url: 'not a url' })).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('args.url'),
      });
    });

    it('http.request sends a method and body', async () => {
      const r = await run('http.request', { method: 'PUT', url: `http://127.0.0.1:${port}/thing`, body: '{"a":1}' });
      expect(r.output).toMatchObject({ status: 201 });
      expect(JSON.parse((r.output as { body: string }).body)).toEqual({ id: 42, method: 'PUT' });
    });
  });

  describe('pr.open and deploy.*', () => {
    it('posts to the configured endpoints with the token', async () => {
      settings.endpoints = {
        pr: `http://127.0.0.1:${port}/pulls`,
        deploy: { staging: `http://127.0.0.1:${port}/deploy/staging` },
        token: 'tok',
        timeoutMs: 1000,
      };
      const pr = await run('pr.open', { title: 'T', head: 'feature' });
      // the endpoint's id is lifted to the top, where a review's compensation looks for it
      expect(pr.output).toEqual({ status: 201, response: { id: 42, method: 'POST' }, id: '42' });
      const dep = await run('deploy.staging', { ref: 'abc123' });
      expect(dep.error).toBeUndefined();
      expect(posts.slice(-2)).toEqual([
        {
          url: '/pulls',
          auth: 'Bearer tok',
          body: { title: 'T', head: 'feature', base: 'main', body: '', draft: false },
        },
        { url: '/deploy/staging', auth: 'Bearer tok', body: { target: 'staging', ref: 'abc123', params: {} } },
      ]);
    });

    it('pr.close posts the PR reference to its endpoint, and needs one', async () => {
      settings.endpoints = {
        prClose: `http://127.0.0.1:${port}/pulls/close`,
        token: 'tok',
        timeoutMs: 1000,
        deploy: {},
      };
      const closed = await run('pr.close', { number: 7, comment: 'flagged in review' });
      expect(closed.error).toBeUndefined();
      expect(posts[posts.length - 1]).toEqual({
        url: '/pulls/close',
        auth: 'Bearer tok',
        body: { number: 7, comment: 'flagged in review' },
      });
      expect((await run('pr.close', { comment: 'which one?' })).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('number, id or url'),
      });
      settings.endpoints = { deploy: {}, timeoutMs: 1000 };
      expect((await run('pr.close', { number: 7 })).error?.code).toBe('TOOL.NOT_CONFIGURED');
    });

    it('fails on unconfigured targets and endpoint errors', async () => {
      settings.endpoints = { deploy: { bad: `http://127.0.0.1:${port}/fail` }, timeoutMs: 1000 };
      expect((await run('deploy.production', { ref: 'x' })).error?.code).toBe('TOOL.NOT_CONFIGURED');
      expect((await run('pr.open', { title: 'T', head: 'h' })).error?.code).toBe('TOOL.NOT_CONFIGURED');
      expect((await run('deploy.bad', { ref: 'x' })).error).toMatchObject({
        code: 'ENDPOINT.FAILED',
        message: expect.stringContaining('500'),
      });
    });
  });

  describe('email.send', () => {
    it('sends through SMTP to a local sink', async () => {
      const received: { from?: string; to: string[]; data: string }[] = [];
      const smtp = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        onData(stream, session, cb) {
          let data = '';
          stream.on('data', (c: Buffer) => (data += c.toString()));
          stream.on('end', () => {
            received.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
              to: session.envelope.rcptTo.map((r) => r.address),
              data,
            });
            cb();
          });
        },
      });
      await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
      const smtpPort = (smtp.server.address() as AddressInfo).port;
      settings.email = { smtpUrl: `smtp://127.0.0.1:${smtpPort}`, from: 'bot@warden.test', timeoutMs: 2000 };
      try {
        const r = await run('email.send', { to: 'ada@example.com', subject: 'Hi', text: 'hello there' });
        expect(r.error).toBeUndefined();
        expect(r.output).toMatchObject({ accepted: ['ada@example.com'], rejected: [] });
        expect(received).toHaveLength(1);
        expect(received[0]).toMatchObject({ from: 'bot@warden.test', to: ['ada@example.com'] });
        expect(received[0]!.data).toContain('hello there');
      } finally {
        await new Promise<void>((r) => smtp.close(() => r()));
      }
    });

    it('writes to the outbox without SMTP, and validates addresses', async () => {
      settings.email = { outbox: path.join(base, 'outbox'), from: 'bot@warden.test', timeoutMs: 1000 };
      const r = await run('email.send', { to: ['a@example.com'], subject: 'S', text: 'body' });
      const file = (r.output as { outbox_file: string }).outbox_file;
      expect(readdirSync(path.join(base, 'outbox'))).toEqual([file]);
      expect(readFileSync(path.join(base, 'outbox', file), 'utf8')).toContain('Subject: S');
      expect((await run('email.send', { to: 'not-an-email', subject: 'S', text: 'x' })).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('args.to'),
      });
      settings.email = { from: 'x@y.z', timeoutMs: 1000 };
      expect((await run('email.send', { to: 'a@example.com', subject: 'S', text: 'x' })).error?.code).toBe(
        'TOOL.NOT_CONFIGURED',
      );
    });
  });

  it('each role knows only its tools', () => {
    expect(tools.forRole('research').get('fs.write_file')).toBeUndefined();
    expect(tools.forRole('research').get('http.get')?.name).toBe('http.get');
    expect(tools.forRole('outreach').get('shell.exec')).toBeUndefined();
    expect(tools.forRole('dev').get('deploy.staging')?.name).toBe('deploy.staging');
    expect(tools.forRole('dev').get('email.send')).toBeUndefined();
    expect(tools.forRole('dev').get('pr.close')?.name).toBe('pr.close');
    expect(tools.forRole('research').get('pr.close')).toBeUndefined();
    expect(tools.forRole('ops').get('deploy.production')?.name).toBe('deploy.production');
    expect(tools.forRole('nobody').names()).toEqual([]);
  });
});
