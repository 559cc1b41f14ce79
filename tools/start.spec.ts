import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { makeTags } from './lib/prefix';
import { parseArgs, replicaInstances, supervise, SERVICES } from './start';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const SCRIPTS = {
  // prints, then on SIGTERM says so and exits 0
  polite: `console.log('hello from ' + process.argv[2]); process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); }); setInterval(() => {}, 1000);`,
  // dies on its own shortly after start
  crasher: `console.error('boom'); setTimeout(() => process.exit(3), 300);`,
  // ignores SIGTERM
  stubborn: `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); setInterval(() => {}, 1000);`,
};

describe('supervise', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-start-'));
    for (const [name, body] of Object.entries(SCRIPTS)) fs.writeFileSync(path.join(dir, `${name}.js`), body);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(children: { name: string; script: string }[], stopTimeoutMs = 10_000) {
    const out = new Capture();
    const err = new Capture();
    const said: string[] = [];
    const tags = makeTags(['warden', ...children.map((c) => c.name)], false);
    const sup = supervise(
      children.map((c) => ({ name: c.name, args: [path.join(dir, `${c.script}.js`), c.name] })),
      { env: process.env, cwd: dir, tags, say: (m: string) => said.push(m), stopTimeoutMs, out, err },
    );
    return { sup, out, err, said };
  }

  const waitFor = async (cond: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('prefixes every line with a fixed-width tag and stops all children cleanly (exit 0)', async () => {
    const { sup, out, said } = run([
      { name: 'ingest', script: 'polite' },
      { name: 'orchestrator', script: 'polite' },
    ]);
    await waitFor(() => out.text.includes('hello from ingest') && out.text.includes('hello from orchestrator'));
    sup.stop('received SIGTERM');
    await expect(sup.done).resolves.toBe(0);
    expect(out.text).toContain('[ingest]       hello from ingest\n');
    expect(out.text).toContain('[orchestrator] hello from orchestrator\n');
    expect(out.text).toContain('[ingest]       got SIGTERM\n');
    expect(said).toEqual(
      expect.arrayContaining(['received SIGTERM; stopping ingest, orchestrator', 'ingest stopped (code 0)']),
    );
  });

  it('stops the others and exits 1 when one child dies unexpectedly', async () => {
    const { sup, out, err, said } = run([
      { name: 'policy', script: 'polite' },
      { name: 'workers', script: 'crasher' },
    ]);
    await expect(sup.done).resolves.toBe(1);
    expect(err.text).toContain('[workers] boom\n');
    expect(said).toContain('workers exited unexpectedly (code 3)');
    expect(out.text).toContain('[policy]  got SIGTERM');
    expect(said).toContain('policy stopped (code 0)');
  });

  it('kills a child that ignores SIGTERM after the timeout and exits 1', async () => {
    const { sup, out, said } = run([{ name: 'approvals', script: 'stubborn' }], 500);
    await waitFor(() => out.text.includes('ready'));
    const started = Date.now();
    sup.stop('received SIGINT');
    await expect(sup.done).resolves.toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(out.text).toContain('ignoring SIGTERM');
    expect(said).toContain('approvals did not stop within 0.5 s; killing it');
    expect(said).toContain('approvals stopped (signal SIGKILL)');
  });

  it('a second stop kills at once', async () => {
    const { sup, out, said } = run([{ name: 'approvals', script: 'stubborn' }], 60_000);
    await waitFor(() => out.text.includes('ready'));
    sup.stop('received SIGINT');
    await waitFor(() => out.text.includes('ignoring SIGTERM'));
    sup.stop('received SIGINT');
    await expect(sup.done).resolves.toBe(1);
    expect(said).toContain('received SIGINT: killing approvals now');
  });
});

describe('parseArgs', () => {
  it('reads --no-build and --only, and rejects unknown services and options', () => {
    expect(parseArgs([], {})).toEqual({ build: true, only: null, replicas: 1 });
    expect(parseArgs(['--no-build', '--only', 'ingest,policy'], {})).toEqual({
      build: false,
      only: ['ingest', 'policy'],
      replicas: 1,
    });
    expect(parseArgs(['--only=workers']).only).toEqual(['workers']);
    expect(() => parseArgs(['--only', 'ingest,nope'])).toThrow(/unknown service\(s\) for --only: nope/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown option "--fast"/);
  });
});

describe('makeTags', () => {
  it('colors tags only when asked', () => {
    expect(makeTags(['a', 'bbb'], false)).toEqual({ a: '[a]  ', bbb: '[bbb]' });
    expect(makeTags(['a'], true).a).toBe('\x1b[36m[a]\x1b[0m');
  });
});

describe('replicas', () => {
  it('reads --replicas and WARDEN_REPLICAS (the flag wins) and refuses what is not 1-9', () => {
    expect(parseArgs([], {}).replicas).toBe(1);
    expect(parseArgs(['--replicas', '3'], {}).replicas).toBe(3);
    expect(parseArgs(['--replicas=2'], {}).replicas).toBe(2);
    expect(parseArgs([], { WARDEN_REPLICAS: '2' }).replicas).toBe(2);
    expect(parseArgs(['--replicas', '4'], { WARDEN_REPLICAS: '2' }).replicas).toBe(4);
    expect(() => parseArgs(['--replicas', '0'], {})).toThrow(
      /--replicas must be a whole number from 1 to 9 \(got "0"\)/,
    );
    expect(() => parseArgs(['--replicas', '1.5'], {})).toThrow(/--replicas must be a whole number/);
    expect(() => parseArgs(['--replicas'], {})).toThrow(/--replicas must be a whole number .*got ""/);
    expect(() => parseArgs([], { WARDEN_REPLICAS: 'two' })).toThrow(/WARDEN_REPLICAS must be a whole number/);
  });

  it('gives every replica its own port (base + 100 per replica) and name; port 0 stays 0', () => {
    const two = replicaInstances(SERVICES, 2, { POLICY_PORT: '9000' });
    expect(two.map((i) => [i.name, i.effectivePort])).toEqual([
      ['ingest', '7101'],
      ['ingest-2', '7201'],
      ['policy', '9000'],
      ['policy-2', '9100'],
      ['orchestrator', '7103'],
      ['orchestrator-2', '7203'],
      ['approvals', '7104'],
      ['approvals-2', '7204'],
      ['workers', '7105'],
      ['workers-2', '7205'],
    ]);
    expect(new Set(two.map((i) => i.effectivePort)).size).toBe(10);
    expect(two.find((i) => i.name === 'workers-2')!.env).toEqual({ WORKERS_PORT: '7205' });
    expect(replicaInstances(SERVICES, 3, { INGEST_PORT: '0' }).filter((i) => i.service === 'ingest')).toEqual(
      [1, 2, 3].map((r) => expect.objectContaining({ replica: r, effectivePort: '0' })),
    );
  });

  it('names worker replicas apart when WORKER_ID is set, and refuses ports past 65535', () => {
    const w = replicaInstances(
      SERVICES.filter((s) => s.name === 'workers'),
      2,
      { WORKER_ID: 'box' },
    );
    expect(w.map((i) => i.env.WORKER_ID)).toEqual(['box-1', 'box-2']);
    expect(() => replicaInstances(SERVICES.slice(0, 1), 2, { INGEST_PORT: '65500' })).toThrow(
      /ingest replica 2 would listen on 65600: lower INGEST_PORT/,
    );
    expect(() => replicaInstances(SERVICES.slice(0, 1), 1, { INGEST_PORT: 'http' })).toThrow(
      /INGEST_PORT is not a port/,
    );
  });

  it('runs each child with its own env', async () => {
    const out = new Capture();
    const script = 'console.log("port " + process.env.P); setInterval(() => {}, 1000);';
    const sup = supervise(
      [
        { name: 'a', args: ['-e', script], env: { ...process.env, P: '1' } },
        { name: 'a-2', args: ['-e', script], env: { ...process.env, P: '2' } },
      ],
      {
        env: process.env,
        cwd: os.tmpdir(),
        tags: makeTags(['warden', 'a', 'a-2'], false),
        say: () => undefined,
        out,
        err: new Capture(),
      },
    );
    const end = Date.now() + 5000;
    while (!/port 1[\s\S]*port 2|port 2[\s\S]*port 1/.test(out.text) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    sup.stop('done');
    await sup.done;
    expect(out.text).toMatch(/^\[a\] +port 1$/m);
    expect(out.text).toMatch(/^\[a-2\] +port 2$/m);
  });
});
