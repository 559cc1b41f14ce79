import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { main } from '../index';

const ROOT = resolve(__dirname, '..', '..', '..', '..');

function io(env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env,
      root: ROOT,
    },
    out: () => out,
    err: () => err,
  };
}

describe('warden policy test', () => {
  it('runs the default bundle suite: every test passes, exit 0', async () => {
    const c = io();
    expect(await main(['policy', 'test', join(ROOT, 'deploy/policies/default.yaml')], c.io)).toBe(0);
    expect(c.out()).toMatch(/PASS {2}write under prod {2}→ escalate tier 3 \[fs-write-prod\]/);
    expect(c.out()).toMatch(/\n\d+ passed, 0 failed\n$/);
  });

  it('reports a failing test with what differed, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-policy-'));
    const file = join(dir, 'b.yaml');
    writeFileSync(
      file,
      `version: t
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
roles: { dev: { tools: [x.*] } }
rules: [{ id: a, tools: [x.a], outcome: deny, reason: no }]
tests:
  - { name: wrong, input: { agent: { role: dev }, tool: x.a }, expect: { outcome: allow } }
`,
    );
    const c = io();
    expect(await main(['policy', 'test', file], c.io)).toBe(1);
    expect(c.out()).toContain('FAIL  wrong  → deny [a]');
    expect(c.out()).toContain('outcome: expected "allow", got "deny"');
  });

  it('fails a bundle whose compute rewrite no worker can execute, naming the field and the role, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-policy-'));
    const file = join(dir, 'b.yaml');
    writeFileSync(
      file,
      `version: t
tiers: { 1: { required_votes: 0 }, 2: { required_votes: 1 }, 3: { required_votes: 2 } }
roles: { dev: { tools: [deploy.*] }, research: { tools: [deploy.*] } }
rules:
  - { id: canary-first, tools: [deploy.production], outcome: compute, compute: { recipe: canary }, reason: canary }
  - { id: canary, tools: [deploy.canary], outcome: allow, reason: ok }
tests:
  - { name: extra arg, input: { agent: { role: dev }, tool: deploy.production, args: { ref: v1, replicas: 3 } }, expect: { outcome: compute, rewritten_tool: deploy.canary } }
  - { name: wrong role, input: { agent: { role: research }, tool: deploy.production, args: { ref: v1 } }, expect: { outcome: compute } }
  - { name: fine, input: { agent: { role: dev }, tool: deploy.production, args: { ref: v1 } }, expect: { outcome: compute } }
`,
    );
    const c = io();
    expect(await main(['policy', 'test', file], c.io)).toBe(1);
    expect(c.out()).toContain('FAIL  extra arg');
    expect(c.out()).toContain('rewrite deploy.canary: args.replicas: unknown field (no worker could execute it)');
    expect(c.out()).toContain('FAIL  wrong role');
    expect(c.out()).toContain('rewrite deploy.canary: tool: role "research" has no tool "deploy.canary"');
    expect(c.out()).toContain('PASS  fine');
    expect(c.out()).toContain('1 passed, 2 failed');
  });

  it('an invalid bundle lists every error with its path and line, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-policy-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'version: x\nrules: []\n');
    const c = io();
    expect(await main(['policy', 'test', file], c.io)).toBe(1);
    expect(c.err()).toContain('rules: Too small: expected array to have >=1 items (line 2)');
  });

  it('usage errors exit 2; an unreachable policy service exits 1 naming the URL', async () => {
    const c = io();
    expect(await main(['policy', 'frobnicate'], c.io)).toBe(2);
    expect(await main(['replay'], c.io)).toBe(2);
    const d = io({ POLICY_URL: 'http://127.0.0.1:9', WARDEN_TOKEN: 'x' });
    expect(await main(['policy', 'show'], d.io)).toBe(1);
    expect(d.err()).toContain('cannot reach the policy service at http://127.0.0.1:9/v1/policy');
  });
});
