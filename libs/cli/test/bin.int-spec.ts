import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';

/**
 * The built `warden` bin as a user runs it (needs `npm run build`; `npm test` builds first): piped
 * into `head`, it ends quietly instead of crashing with EPIPE.
 */
const ROOT = resolve(__dirname, '..', '..', '..');
const BIN = join(ROOT, 'libs', 'cli', 'bin', 'warden.js');
const RUN_ID = '3f1c2b1a-0000-4000-8000-000000000001';

/** A stand-in orchestrator: a long page of runs, and a long audit export streamed line by line. */
async function orchestrator() {
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/v1/runs')) {
      const items = Array.from({ length: 20_000 }, (_, i) => ({
        run_id: RUN_ID,
        status: 'succeeded',
        agent: { id: `agent-${i}` },
        action: { tool: 'fs.read_file' },
        created_at: '2026-01-01T00:00:00.000Z',
      }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items, next_cursor: 'c2' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-warden-audit-records': '50000' });
    let i = 0;
    const more = () => {
      while (i < 50_000) {
        i++;
        if (!res.write(`${JSON.stringify({ kind: 'record', seq: i, type: 'task_received' })}\n`)) {
          res.once('drain', more);
          return;
        }
      }
      res.end();
    };
    res.on('error', () => undefined);
    more();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => server.close(r)) };
}

/** Runs `bash -o pipefail -c script`: the exit code is the CLI's (head exits 0). */
function sh(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.stderr.on('data', (c: Buffer) => (err += String(c)));
    child.on('close', (code) => done({ code, out, err }));
  });
}

describe('the warden bin', () => {
  let o: Awaited<ReturnType<typeof orchestrator>>;
  beforeAll(async () => {
    o = await orchestrator();
  });
  afterAll(async () => {
    await o.close();
  });

  it.each([['runs'], ['audit export']])('warden %s | head -1 ends quietly (exit 0, no EPIPE)', async (command) => {
    const r = await sh(`node ${JSON.stringify(BIN)} ${command} | head -1`, {
      ORCHESTRATOR_URL: o.url,
      WARDEN_TOKEN: 't',
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toHaveLength(2);
  });

  it('npx warden --help prints the usage of the package.json bin', async () => {
    const r = await sh('npx --no-install warden submit --help', {});
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: warden submit \[options\] \[tool\] \[args\.\.\.\]/);
  });
});
