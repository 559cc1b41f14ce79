import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isInside, resolveLexically } from './domain/path-rules';
import { prepareWorkspace, resolveExisting, resolveForWrite } from './path-safety';
import { ToolError } from './domain/tool';
import { FS_MODES, useBlockingFs } from './fs-ops';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ToolError) return err.code;
    throw err;
  }
  return 'OK';
}

describe.each(FS_MODES)('path safety (%s file-system calls)', (mode) => {
  beforeAll(() => useBlockingFs(mode === 'blocking'));
  afterAll(() => useBlockingFs(false));
  let base: string;
  let root: string;
  let outside: string;

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-paths-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
    outside = path.join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    mkdirSync(path.join(root, 'docs'));
    writeFileSync(path.join(root, 'docs', 'a.md'), 'a');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('treats a sibling with a common prefix as outside', () => {
    expect(isInside('/w/ws', '/w/ws/a')).toBe(true);
    expect(isInside('/w/ws', '/w/ws')).toBe(true);
    expect(isInside('/w/ws', '/w/ws2/a')).toBe(false);
  });

  it('refuses absolute paths, NUL bytes, empty and non-string paths', () => {
    expect(() => resolveLexically(root, '/etc/passwd')).toThrow(expect.objectContaining({ code: 'PATH.ABSOLUTE' }));
    expect(() => resolveLexically(root, path.join(root, 'docs/a.md'))).toThrow(
      expect.objectContaining({ code: 'PATH.ABSOLUTE' }),
    );
    expect(() => resolveLexically(root, 'C:\\x')).toThrow(expect.objectContaining({ code: 'PATH.ABSOLUTE' }));
    expect(() => resolveLexically(root, 'docs/a.md\0.png')).toThrow(expect.objectContaining({ code: 'PATH.INVALID' }));
    expect(() => resolveLexically(root, '')).toThrow(expect.objectContaining({ code: 'PATH.INVALID' }));
    expect(() => resolveLexically(root, 42)).toThrow(expect.objectContaining({ code: 'PATH.INVALID' }));
  });

  it('refuses ../ that leaves the root but allows ../ that stays inside', () => {
    expect(() => resolveLexically(root, '../outside/secret.txt')).toThrow(
      expect.objectContaining({ code: 'PATH.ESCAPE' }),
    );
    expect(() => resolveLexically(root, 'docs/../../outside')).toThrow(
      expect.objectContaining({ code: 'PATH.ESCAPE' }),
    );
    expect(() => resolveLexically(root, '..')).toThrow(expect.objectContaining({ code: 'PATH.ESCAPE' }));
    expect(resolveLexically(root, 'docs/../docs/a.md')).toBe(path.join(root, 'docs', 'a.md'));
    expect(resolveLexically(root, '.')).toBe(root);
  });

  it('refuses a symlinked directory that leads outside, for reads and writes', async () => {
    symlinkSync(outside, path.join(root, 'out'));
    expect(await code(resolveExisting(root, 'out/secret.txt'))).toBe('PATH.ESCAPE');
    expect(await code(resolveExisting(root, 'out/missing.txt'))).toBe('PATH.ESCAPE');
    expect(await code(resolveForWrite(root, 'out/new.txt', true))).toBe('PATH.ESCAPE');
    expect(await code(resolveForWrite(root, 'out/deeper/new.txt', true))).toBe('PATH.ESCAPE');
  });

  it('refuses a symlinked file that leads outside', async () => {
    symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link.txt'));
    expect(await code(resolveExisting(root, 'link.txt'))).toBe('PATH.ESCAPE');
  });

  it('follows a symlink that stays inside for reads, but never a final symlink for writes', async () => {
    symlinkSync(path.join(root, 'docs', 'a.md'), path.join(root, 'alias.md'));
    expect(await resolveExisting(root, 'alias.md')).toBe(path.join(root, 'docs', 'a.md'));
    expect(await code(resolveForWrite(root, 'alias.md', true))).toBe('PATH.SYMLINK');
    // a dangling symlink pointing outside must not be created through either
    symlinkSync(path.join(outside, 'planted.txt'), path.join(root, 'dangling.txt'));
    expect(await code(resolveForWrite(root, 'dangling.txt', true))).toBe('PATH.SYMLINK');
  });

  it('reports missing paths and missing parents', async () => {
    expect(await code(resolveExisting(root, 'nope.txt'))).toBe('FS.NOT_FOUND');
    expect(await code(resolveForWrite(root, 'new/dir/x.txt', false))).toBe('FS.NOT_FOUND');
    expect(await resolveForWrite(root, 'new/dir/x.txt', true)).toBe(path.join(root, 'new', 'dir', 'x.txt'));
    expect(await code(resolveForWrite(root, 'docs/a.md/x.txt', true))).toBe('FS.NOT_A_DIRECTORY');
    expect(await code(resolveForWrite(root, '.', true))).toBe('FS.IS_DIRECTORY');
    expect(await code(resolveForWrite(root, 'docs', true))).toBe('FS.IS_DIRECTORY');
  });

  it('resolves relative to the real root even when the root is reached through a symlink', async () => {
    const viaLink = path.join(base, 'ws-link');
    symlinkSync(root, viaLink);
    const real = await prepareWorkspace(viaLink);
    expect(real).toBe(root);
    expect(await resolveExisting(real, 'docs/a.md')).toBe(path.join(root, 'docs', 'a.md'));
  });
});
