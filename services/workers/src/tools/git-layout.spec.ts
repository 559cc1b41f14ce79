import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PREVIOUS_CONTENT_MAX } from './fs-write-file.tool';
import { prepareWorkspace } from './path-safety';
import { runTool } from './run-tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();

describe('fs.write_file refuses git-internal layouts anywhere in the workspace', () => {
  let base: string;
  let root: string;
  const write = (p: string, content = 'x') =>
    runTool(tools, { tool: 'fs.write_file', args: { path: p, content } }, { root });

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-layout-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it.each([
    ['HEAD', 'objects/pack/x', 'refs/heads/main'],
    ['refs/heads/main', 'objects/ab/cdef', 'HEAD'],
    ['objects/info/alternates', 'HEAD', 'refs/tags/t'],
  ])('at the root, in any order: %s, %s, then %s is refused', async (a, b, c) => {
    expect((await write(a, 'ref: refs/heads/main\n')).error).toBeUndefined();
    expect((await write(b)).error).toBeUndefined();
    expect((await write(c)).error?.code).toBe('PATH.GIT_INTERNAL');
  });

  it('in a subfolder, and every file of a layout once it exists (config, hooks, info/attributes)', async () => {
    mkdirSync(path.join(root, 'deep', 'repo', 'objects'), { recursive: true });
    mkdirSync(path.join(root, 'deep', 'repo', 'refs'), { recursive: true });
    expect((await write('deep/repo/HEAD', 'ref: refs/heads/main\n')).error?.code).toBe('PATH.GIT_INTERNAL');
    writeFileSync(path.join(root, 'deep', 'repo', 'HEAD'), 'ref: refs/heads/main\n');
    for (const p of [
      'deep/repo/config',
      'deep/repo/hooks/pre-commit',
      'deep/repo/info/attributes',
      'deep/repo/packed-refs',
    ]) {
      expect((await write(p)).error?.code).toBe('PATH.GIT_INTERNAL');
    }
  });

  it('a HEAD with commondir is a repository too', async () => {
    expect((await write('w/HEAD', 'ref: refs/heads/main\n')).error).toBeUndefined();
    expect((await write('w/commondir', '../../elsewhere\n')).error?.code).toBe('PATH.GIT_INTERNAL');
  });

  it('ordinary files named config, HEAD, refs/… or objects/… are not refused', async () => {
    for (const p of [
      'config',
      'app/config',
      'HEAD',
      'docs/refs/a.md',
      'src/objects/b.ts',
      '.gitattributes',
      '.gitmodules',
    ]) {
      expect((await write(p)).error).toBeUndefined();
    }
  });

  it('.git in any spelling stays refused', async () => {
    expect((await write('.git/config')).error?.code).toBe('PATH.GIT_INTERNAL');
    expect((await write('sub/.GIT/config')).error?.code).toBe('PATH.GIT_INTERNAL');
  });
});

describe('fs.write_file reports the content it replaced (for the review compensation)', () => {
  let base: string;
  let root: string;
  const write = (p: string, content: string) =>
    runTool(tools, { tool: 'fs.write_file', args: { path: p, content } }, { root });

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-prev-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('a created file has no previous content; an overwritten one reports it whole', async () => {
    expect((await write('a.md', 'one')).output).toEqual({ path: 'a.md', bytes_written: 3, created: true });
    expect((await write('a.md', 'two!')).output).toEqual({
      path: 'a.md',
      bytes_written: 4,
      created: false,
      previous_bytes: 3,
      previous_content: 'one',
    });
    expect(readFileSync(path.join(root, 'a.md'), 'utf8')).toBe('two!');
  });

  it('too large or binary: only the size, never a cut or re-encoded content', async () => {
    writeFileSync(path.join(root, 'big'), 'x'.repeat(PREVIOUS_CONTENT_MAX + 1));
    expect((await write('big', 'y')).output).toMatchObject({ previous_truncated: true, created: false });
    expect((await write('big', 'y')).output).toMatchObject({ previous_content: 'y' });
    writeFileSync(path.join(root, 'bin'), Buffer.from([0xff, 0xfe, 0x00]));
    const r = (await write('bin', 'z')).output as Record<string, unknown>;
    expect(r).toMatchObject({ previous_binary: true, previous_bytes: 3 });
    expect(r.previous_content).toBeUndefined();
  });
});
