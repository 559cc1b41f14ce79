import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { judgedKey, judgedPath } from './domain/path-rules';
import { prepareWorkspace } from './path-safety';
import { runTool } from './run-tool';
import { ToolRegistry } from './tool-registry';
import { FS_MODES, useBlockingFs } from './fs-ops';

const tools = new ToolRegistry();

describe('judgedPath', () => {
  it('looks the path up under the key policy uses; an unlisted path was judged as itself', () => {
    const c = { resolved_paths: { 'vlink/x': 'prod/x' } };
    expect(judgedPath('./vlink//x', c)).toBe('prod/x');
    expect(judgedPath('a/../vlink/x/', c)).toBe('prod/x');
    expect(judgedPath('notes/a.md', c)).toBe('notes/a.md');
    expect(judgedKey('')).toBe('.');
    expect(judgedKey('a\\b')).toBe('a/b');
  });

  it('a decision without resolved paths (made before policy resolved them) asks nothing', () => {
    expect(judgedPath('x', undefined)).toBeUndefined();
    expect(judgedPath('x', { timeout_seconds: 5 })).toBeUndefined();
    expect(judgedPath('x', { resolved_paths: ['x'] })).toBeUndefined();
  });
});

describe.each(FS_MODES)(
  'fs tools refuse a path that no longer leads where the decision judged it (TOCTOU) (%s file-system calls)',
  (mode) => {
    beforeAll(() => useBlockingFs(mode === 'blocking'));
    afterAll(() => useBlockingFs(false));
    let base: string;
    let root: string;
    const run = (tool: string, args: Record<string, unknown>, resolved?: Record<string, string>) =>
      runTool(tools, { tool, args }, { root, constraints: resolved ? { resolved_paths: resolved } : {} });

    beforeEach(async () => {
      base = mkdtempSync(path.join(tmpdir(), 'warden-judged-'));
      root = await prepareWorkspace(path.join(base, 'ws'));
      mkdirSync(path.join(root, 'prod'));
      mkdirSync(path.join(root, 'plain'));
      writeFileSync(path.join(root, 'prod/app.yaml'), 'prod');
    });
    afterEach(() => rmSync(base, { recursive: true, force: true }));

    /** Replaces the directory `plain` with a symlink to prod/, as an attacker between decision and execution. */
    const swapPlainForLink = () => {
      rmSync(path.join(root, 'plain'), { recursive: true });
      symlinkSync('prod', path.join(root, 'plain'));
    };

    it('a write judged for a plain directory, swapped for a link to prod/: refused, nothing in prod/', async () => {
      swapPlainForLink();
      const r = await run(
        'fs.write_file',
        { path: 'plain/x.yaml', content: 'sneaky' },
        { 'plain/x.yaml': 'plain/x.yaml' },
      );
      expect(r.error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect(r.error?.message).toContain('"prod/x.yaml"');
      expect(existsSync(path.join(root, 'prod/x.yaml'))).toBe(false);
    });

    it('a write of a missing directory (create_dirs) judged as itself, then a link to prod/ appears: refused', async () => {
      symlinkSync('prod', path.join(root, 'later'));
      const r = await run(
        'fs.write_file',
        { path: 'later/new/x.yaml', content: 'x' },
        { 'later/new/x.yaml': 'later/new/x.yaml' },
      );
      expect(r.error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect(existsSync(path.join(root, 'prod/new'))).toBe(false);
    });

    it('a write judged through a link still leading there runs (policy already judged prod/)', async () => {
      symlinkSync('prod', path.join(root, 'vlink'));
      const r = await run(
        'fs.write_file',
        { path: 'vlink/ok.yaml', content: 'ok' },
        { 'vlink/ok.yaml': 'prod/ok.yaml' },
      );
      expect(r.error).toBeUndefined();
      expect(readFileSync(path.join(root, 'prod/ok.yaml'), 'utf8')).toBe('ok');
    });

    it('a link chain re-pointed after the decision is refused', async () => {
      mkdirSync(path.join(root, 'staging'));
      symlinkSync('staging', path.join(root, 'hop'));
      symlinkSync('hop', path.join(root, 'chain'));
      const judged = { 'chain/a.yaml': 'staging/a.yaml' };
      rmSync(path.join(root, 'hop'));
      symlinkSync('prod', path.join(root, 'hop'));
      const r = await run('fs.write_file', { path: 'chain/a.yaml', content: 'x' }, judged);
      expect(r.error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect(existsSync(path.join(root, 'prod/a.yaml'))).toBe(false);
    });

    it('.. is applied before links, as policy does: vlink/sub/../y is vlink/y', async () => {
      symlinkSync('prod', path.join(root, 'vlink'));
      const r = await run('fs.write_file', { path: 'vlink/sub/../y', content: 'x' }, { 'vlink/y': 'vlink/y' });
      expect(r.error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect(existsSync(path.join(root, 'prod/y'))).toBe(false);
    });

    it('reads, listings and deletes are checked too', async () => {
      writeFileSync(path.join(root, 'plain/a.txt'), 'plain');
      swapPlainForLink();
      expect((await run('fs.read_file', { path: 'plain/app.yaml' }, {})).error?.code).toBe(
        'PATH.CHANGED_SINCE_DECISION',
      );
      expect((await run('fs.list_dir', { path: 'plain' }, {})).error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect((await run('fs.delete', { path: 'plain/app.yaml' }, {})).error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
      expect(existsSync(path.join(root, 'prod/app.yaml'))).toBe(true);
      // the same calls as judged run
      expect(
        (await run('fs.read_file', { path: 'plain/app.yaml' }, { 'plain/app.yaml': 'prod/app.yaml' })).error,
      ).toBeUndefined();
      expect((await run('fs.list_dir', { path: 'plain' }, { plain: 'prod' })).error).toBeUndefined();
    });

    it('a file link made after the decision is refused for reads (it was judged as the plain file)', async () => {
      symlinkSync('prod/app.yaml', path.join(root, 'notes.yaml'));
      const r = await run('fs.read_file', { path: 'notes.yaml' }, { 'notes.yaml': 'notes.yaml' });
      expect(r.error?.code).toBe('PATH.CHANGED_SINCE_DECISION');
    });

    it('a hard link into prod/ made after the decision is still refused (PATH.HARDLINK)', async () => {
      linkSync(path.join(root, 'prod/app.yaml'), path.join(root, 'plain/app.yaml'));
      const r = await run(
        'fs.write_file',
        { path: 'plain/app.yaml', content: 'pwned' },
        { 'plain/app.yaml': 'plain/app.yaml' },
      );
      expect(r.error?.code).toBe('PATH.HARDLINK');
      expect(readFileSync(path.join(root, 'prod/app.yaml'), 'utf8')).toBe('prod');
    });

    it('a decision without resolved paths keeps the old behaviour (links inside the workspace followed)', async () => {
      symlinkSync('prod', path.join(root, 'vlink'));
      const r = await run('fs.read_file', { path: 'vlink/app.yaml' });
      expect(r.error).toBeUndefined();
    });
  },
);
