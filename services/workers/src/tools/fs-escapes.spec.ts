import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { OPEN_READ, assertOpenedInside, prepareWorkspace } from './path-safety';
import { FS_MODES, useBlockingFs } from './fs-ops';
import { runTool } from './run-tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();

describe.each(FS_MODES)('fs escapes and fs.delete (%s file-system calls)', (mode) => {
  beforeAll(() => useBlockingFs(mode === 'blocking'));
  afterAll(() => useBlockingFs(false));
  let base: string;
  let root: string;
  let outside: string;
  const run = (tool: string, args: Record<string, unknown>) => runTool(tools, { tool, args }, { root });

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-esc-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
    outside = path.join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('refuses a hard link to a file outside for reads and writes', async () => {
    linkSync(path.join(outside, 'secret.txt'), path.join(root, 'hard.txt'));
    expect((await run('fs.read_file', { path: 'hard.txt' })).error?.code).toBe('PATH.HARDLINK');
    expect((await run('fs.write_file', { path: 'hard.txt', content: 'pwned' })).error?.code).toBe('PATH.HARDLINK');
    expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('refuses device files, inside the workspace or reached through a symlink', async () => {
    symlinkSync('/dev/zero', path.join(root, 'zero'));
    expect((await run('fs.read_file', { path: 'zero' })).error?.code).toBe('PATH.ESCAPE');
    // creating a device node needs root (CAP_MKNOD); elsewhere only the symlink case is checked
    if (process.getuid?.() === 0) {
      execFileSync('mknod', [path.join(root, 'null'), 'c', '1', '3']);
      expect((await run('fs.read_file', { path: 'null' })).error?.code).toBe('PATH.DEVICE');
      expect((await run('fs.write_file', { path: 'null', content: 'x' })).error?.code).toBe('PATH.DEVICE');
    }
  });

  it('refuses /proc/self/root and /proc/self/cwd reached through a symlink', async () => {
    symlinkSync('/proc/self/root', path.join(root, 'rootfs'));
    symlinkSync('/proc/self/cwd', path.join(root, 'cwd'));
    expect((await run('fs.read_file', { path: 'rootfs/etc/hostname' })).error?.code).toBe('PATH.ESCAPE');
    expect((await run('fs.list_dir', { path: 'rootfs' })).error?.code).toBe('PATH.ESCAPE');
    expect((await run('fs.write_file', { path: 'rootfs/tmp/pwned', content: 'x' })).error?.code).toBe('PATH.ESCAPE');
    expect((await run('fs.read_file', { path: 'cwd/package.json' })).error?.code).toBe('PATH.ESCAPE');
  });

  it('detects a descriptor that points outside after open (TOCTOU check)', async () => {
    const fh = await fsp.open(path.join(outside, 'secret.txt'), OPEN_READ);
    try {
      await expect(assertOpenedInside(root, fh.fd, 'docs/a.md')).rejects.toMatchObject({ code: 'PATH.ESCAPE' });
    } finally {
      await fh.close();
    }
  });

  it('never returns outside content while a directory is swapped for a symlink during reads', async () => {
    mkdirSync(path.join(root, 'docs'));
    writeFileSync(path.join(root, 'docs', 'secret.txt'), 'inside');
    let swapping = true;
    const swapper = (async () => {
      // flip docs between a real directory and a symlink to the outside as fast as possible
      while (swapping) {
        renameSync(path.join(root, 'docs'), path.join(root, 'docs-real'));
        symlinkSync(outside, path.join(root, 'docs'));
        await new Promise((r) => setImmediate(r));
        rmSync(path.join(root, 'docs'));
        renameSync(path.join(root, 'docs-real'), path.join(root, 'docs'));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const codes = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const r = await run('fs.read_file', { path: 'docs/secret.txt' });
      expect(JSON.stringify(r.output)).not.toContain('"secret"');
      codes.add(r.error?.code ?? 'OK');
    }
    swapping = false;
    await swapper;
    expect([...codes].every((c) => ['OK', 'PATH.ESCAPE', 'FS.NOT_FOUND'].includes(c))).toBe(true);
  });

  it('refuses writes and deletes inside .git', async () => {
    mkdirSync(path.join(root, '.git'));
    writeFileSync(path.join(root, '.git', 'config'), '[core]');
    expect((await run('fs.write_file', { path: '.git/config', content: '[core]\nfsmonitor = evil' })).error?.code).toBe(
      'PATH.GIT_INTERNAL',
    );
    expect((await run('fs.write_file', { path: 'sub/.GIT/hooks/pre-commit', content: 'x' })).error?.code).toBe(
      'PATH.GIT_INTERNAL',
    );
    expect((await run('fs.delete', { path: '.git', recursive: true })).error?.code).toBe('PATH.GIT_INTERNAL');
    expect(readFileSync(path.join(root, '.git', 'config'), 'utf8')).toBe('[core]');
  });

  describe('fs.delete', () => {
    it('deletes a file and a directory only when recursive', async () => {
      writeFileSync(path.join(root, 'a.txt'), 'a');
      mkdirSync(path.join(root, 'd', 'e'), { recursive: true });
      writeFileSync(path.join(root, 'd', 'e', 'f.txt'), 'f');
      expect((await run('fs.delete', { path: 'a.txt' })).output).toEqual({ path: 'a.txt', deleted: 'file' });
      expect(existsSync(path.join(root, 'a.txt'))).toBe(false);
      expect((await run('fs.delete', { path: 'd' })).error?.code).toBe('FS.IS_DIRECTORY');
      expect(existsSync(path.join(root, 'd', 'e', 'f.txt'))).toBe(true);
      expect((await run('fs.delete', { path: 'd', recursive: true })).output).toEqual({ path: 'd', deleted: 'dir' });
      expect(existsSync(path.join(root, 'd'))).toBe(false);
    });

    it('removes a symlink itself, never its target, also inside a recursive delete', async () => {
      symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link'));
      mkdirSync(path.join(root, 'tree'));
      symlinkSync(outside, path.join(root, 'tree', 'out'));
      expect((await run('fs.delete', { path: 'link' })).output).toEqual({ path: 'link', deleted: 'symlink' });
      expect((await run('fs.delete', { path: 'tree', recursive: true })).error).toBeUndefined();
      expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret');
    });

    it('refuses escapes, the root, absolute paths, symlinked parents and missing files', async () => {
      symlinkSync(outside, path.join(root, 'out'));
      expect((await run('fs.delete', { path: '../outside/secret.txt' })).error?.code).toBe('PATH.ESCAPE');
      expect((await run('fs.delete', { path: 'out/secret.txt' })).error?.code).toBe('PATH.ESCAPE');
      expect((await run('fs.delete', { path: path.join(outside, 'secret.txt') })).error?.code).toBe('PATH.ABSOLUTE');
      expect((await run('fs.delete', { path: '.' })).error?.code).toBe('PATH.ROOT');
      expect((await run('fs.delete', { path: 'nope' })).error?.code).toBe('FS.NOT_FOUND');
      expect((await run('fs.delete', {})).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('args.path'),
      });
      expect(existsSync(path.join(outside, 'secret.txt'))).toBe(true);
    });
  });
});
