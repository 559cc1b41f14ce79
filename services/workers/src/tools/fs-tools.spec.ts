import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { MAX_OUTPUT_BYTES } from '@warden/contracts';
import { sha256Canonical } from '@warden/kernel';
import { cutToFit } from './fs-read-file.tool';
import { FS_MODES, useBlockingFs } from './fs-ops';
import { prepareWorkspace } from './path-safety';
import { runTool } from './run-tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();

describe.each(FS_MODES)('fs tools (%s file-system calls)', (mode) => {
  beforeAll(() => useBlockingFs(mode === 'blocking'));
  afterAll(() => useBlockingFs(false));
  let base: string;
  let root: string;
  let outside: string;
  const run = (tool: string, args: Record<string, unknown>) => runTool(tools, { tool, args }, { root });

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-tools-'));
    root = await prepareWorkspace(path.join(base, 'ws'));
    outside = path.join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  describe('fs.read_file', () => {
    it('returns content and byte size, hashed', async () => {
      writeFileSync(path.join(root, 'a.md'), 'héllo');
      const r = await run('fs.read_file', { path: 'a.md' });
      expect(r).toEqual({
        output: { content: 'héllo', bytes: 6 },
        output_hash: sha256Canonical({ content: 'héllo', bytes: 6 }),
      });
    });

    it('reads base64 when asked', async () => {
      writeFileSync(path.join(root, 'b.bin'), Buffer.from([0, 255, 1]));
      const r = await run('fs.read_file', { path: 'b.bin', encoding: 'base64' });
      expect(r.output).toEqual({ content: 'AP8B', bytes: 3 });
    });

    it('fails cleanly on a missing file, a directory, a bad arg and an escape', async () => {
      mkdirSync(path.join(root, 'd'));
      expect((await run('fs.read_file', { path: 'nope.md' })).error?.code).toBe('FS.NOT_FOUND');
      expect((await run('fs.read_file', { path: 'd' })).error?.code).toBe('FS.IS_DIRECTORY');
      expect((await run('fs.read_file', {})).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('args.path'),
      });
      expect((await run('fs.read_file', { path: 'a', extra: 1 })).error).toMatchObject({
        code: 'TOOL.INVALID_ARGS',
        message: expect.stringContaining('args.extra'),
      });
      expect((await run('fs.read_file', { path: '../outside/secret.txt' })).error?.code).toBe('PATH.ESCAPE');
      expect((await run('fs.read_file', { path: path.join(outside, 'secret.txt') })).error?.code).toBe('PATH.ABSOLUTE');
      const failed = await run('fs.read_file', { path: 'nope.md' });
      expect(failed).toMatchObject({ output: null, output_hash: sha256Canonical(null) });
    });

    it('never reads through a symlink that leaves the workspace', async () => {
      symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'leak.txt'));
      symlinkSync(outside, path.join(root, 'out'));
      const a = await run('fs.read_file', { path: 'leak.txt' });
      const b = await run('fs.read_file', { path: 'out/secret.txt' });
      expect(a.error?.code).toBe('PATH.ESCAPE');
      expect(b.error?.code).toBe('PATH.ESCAPE');
      expect(JSON.stringify([a, b])).not.toContain('secret"');
    });

    it('does not hang on a FIFO', async () => {
      execFileSync('mkfifo', [path.join(root, 'pipe')]);
      expect((await run('fs.read_file', { path: 'pipe' })).error?.code).toBe('FS.NOT_A_FILE');
    });

    it('truncates content over MAX_OUTPUT_BYTES but hashes all of it', async () => {
      const content = 'é"\n'.repeat(40_000); // escaping makes the JSON larger than the bytes
      writeFileSync(path.join(root, 'big.txt'), content);
      const r = await run('fs.read_file', { path: 'big.txt' });
      expect(r.truncated).toBe(true);
      expect(r.output_hash).toBe(sha256Canonical({ content, bytes: Buffer.byteLength(content) }));
      const out = r.output as { content: string; bytes: number };
      expect(out.bytes).toBe(Buffer.byteLength(content));
      expect(Buffer.byteLength(JSON.stringify(out))).toBeLessThanOrEqual(MAX_OUTPUT_BYTES);
      expect(Buffer.byteLength(JSON.stringify(out))).toBeGreaterThan(MAX_OUTPUT_BYTES - 16);
      expect(content.startsWith(out.content)).toBe(true);
    });

    it('cuts on character boundaries', () => {
      expect(cutToFit('ééé', 6)).toBe('éé'); // "éé" is 4 bytes + 2 quotes
      expect(cutToFit('abc', 2)).toBe('');
    });
  });

  describe('fs.write_file', () => {
    it('writes, creating parent directories by default', async () => {
      const r = await run('fs.write_file', { path: 'notes/deep/a.md', content: 'hi é' });
      expect(r.output).toEqual({ path: 'notes/deep/a.md', bytes_written: 5, created: true });
      expect(r.error).toBeUndefined();
      expect(readFileSync(path.join(root, 'notes/deep/a.md'), 'utf8')).toBe('hi é');
    });

    it('replaces existing content entirely', async () => {
      writeFileSync(path.join(root, 'a.md'), 'a much longer original');
      const r = await run('fs.write_file', { path: 'a.md', content: 'short' });
      expect(readFileSync(path.join(root, 'a.md'), 'utf8')).toBe('short');
      // an existing file was replaced, not created: flagging proposes restoring it, never deleting it
      expect(r.output).toEqual({
        path: 'a.md',
        bytes_written: 5,
        created: false,
        previous_bytes: 22,
        previous_content: 'a much longer original',
      });
    });

    it('says created: true only for the write that created the file', async () => {
      const first = await run('fs.write_file', { path: 'c.md', content: '1' });
      const second = await run('fs.write_file', { path: 'c.md', content: '22' });
      expect(first.output).toMatchObject({ created: true, bytes_written: 1 });
      expect(second.output).toMatchObject({ created: false, bytes_written: 2 });
      expect(readFileSync(path.join(root, 'c.md'), 'utf8')).toBe('22');
    });

    it('refuses a missing parent when create_dirs is false', async () => {
      const r = await run('fs.write_file', { path: 'x/a.md', content: 'hi', create_dirs: false });
      expect(r.error?.code).toBe('FS.NOT_FOUND');
      expect(existsSync(path.join(root, 'x'))).toBe(false);
    });

    it('refuses escapes, symlinks and directories without writing anything', async () => {
      symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'leak.txt'));
      symlinkSync(outside, path.join(root, 'out'));
      symlinkSync(path.join(outside, 'planted.txt'), path.join(root, 'dangling.txt'));
      mkdirSync(path.join(root, 'dir'));
      expect((await run('fs.write_file', { path: '../outside/secret.txt', content: 'pwned' })).error?.code).toBe(
        'PATH.ESCAPE',
      );
      expect((await run('fs.write_file', { path: 'leak.txt', content: 'pwned' })).error?.code).toBe('PATH.SYMLINK');
      expect((await run('fs.write_file', { path: 'dangling.txt', content: 'pwned' })).error?.code).toBe('PATH.SYMLINK');
      expect((await run('fs.write_file', { path: 'out/secret.txt', content: 'pwned' })).error?.code).toBe(
        'PATH.ESCAPE',
      );
      expect((await run('fs.write_file', { path: 'out/sub/new.txt', content: 'pwned' })).error?.code).toBe(
        'PATH.ESCAPE',
      );
      expect((await run('fs.write_file', { path: 'dir', content: 'x' })).error?.code).toBe('FS.IS_DIRECTORY');
      expect((await run('fs.write_file', { path: 'a\0b', content: 'x' })).error?.code).toBe('PATH.INVALID');
      expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret');
      expect(existsSync(path.join(outside, 'planted.txt'))).toBe(false);
      expect(existsSync(path.join(outside, 'sub'))).toBe(false);
    });

    it('requires string content', async () => {
      const r = await run('fs.write_file', { path: 'a.md', content: 5 });
      expect(r.error).toMatchObject({ code: 'TOOL.INVALID_ARGS', message: expect.stringContaining('args.content') });
    });
  });

  describe('fs.list_dir', () => {
    it('lists the root by default, sorted, with types and sizes, without following symlinks', async () => {
      writeFileSync(path.join(root, 'b.txt'), '12345');
      mkdirSync(path.join(root, 'a-dir'));
      symlinkSync(outside, path.join(root, 'c-link'));
      const r = await run('fs.list_dir', {});
      expect(r.output).toEqual({
        entries: [
          { name: 'a-dir', type: 'dir', size: 0 },
          { name: 'b.txt', type: 'file', size: 5 },
          { name: 'c-link', type: 'other', size: 0 },
        ],
      });
    });

    it('lists a subdirectory and fails on files, missing paths and escapes', async () => {
      mkdirSync(path.join(root, 'd'));
      writeFileSync(path.join(root, 'd', 'x'), '');
      symlinkSync(outside, path.join(root, 'out'));
      expect((await run('fs.list_dir', { path: 'd' })).output).toEqual({
        entries: [{ name: 'x', type: 'file', size: 0 }],
      });
      expect((await run('fs.list_dir', { path: 'd/x' })).error?.code).toBe('FS.NOT_A_DIRECTORY');
      expect((await run('fs.list_dir', { path: 'nope' })).error?.code).toBe('FS.NOT_FOUND');
      expect((await run('fs.list_dir', { path: '..' })).error?.code).toBe('PATH.ESCAPE');
      expect((await run('fs.list_dir', { path: 'out' })).error?.code).toBe('PATH.ESCAPE');
    });

    it('truncates a huge listing to the entries that fit', async () => {
      for (let i = 0; i < 1500; i++)
        writeFileSync(path.join(root, `file-with-a-rather-long-name-${String(i).padStart(5, '0')}.txt`), '');
      const r = await run('fs.list_dir', {});
      const entries = (r.output as { entries: unknown[] }).entries;
      expect(r.truncated).toBe(true);
      expect(entries.length).toBeGreaterThan(100);
      expect(entries.length).toBeLessThan(1500);
      expect(Buffer.byteLength(JSON.stringify(r.output))).toBeLessThanOrEqual(MAX_OUTPUT_BYTES);
    });
  });

  it('fails an unknown tool with TOOL.UNKNOWN', async () => {
    expect((await run('secrets.read', { name: 'db' })).error?.code).toBe('TOOL.UNKNOWN');
  });
});
