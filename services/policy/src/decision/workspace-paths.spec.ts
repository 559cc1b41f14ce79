import { linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkspacePaths } from './workspace-paths';

describe('WorkspacePaths (reads a real workspace)', () => {
  let base: string;
  let ws: string;
  let paths: WorkspacePaths;

  beforeAll(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'warden-policy-paths-')));
    ws = join(base, 'ws');
    mkdirSync(join(ws, 'prod'), { recursive: true });
    mkdirSync(join(ws, 'notes/sub'), { recursive: true });
    mkdirSync(join(base, 'outside'));
    writeFileSync(join(ws, 'prod/app.yaml'), 'x');
    writeFileSync(join(ws, 'notes/plain.md'), 'x');
    symlinkSync('prod', join(ws, 'vlink')); // a link to a directory
    symlinkSync('vlink', join(ws, 'chain')); // a chain of links
    symlinkSync('../prod', join(ws, 'notes/up')); // a relative link through ..
    symlinkSync('prod/app.yaml', join(ws, 'file-link')); // a link to a file
    symlinkSync(join(base, 'outside'), join(ws, 'out')); // a link leaving the workspace
    symlinkSync('loop-b', join(ws, 'loop-a'));
    symlinkSync('loop-a', join(ws, 'loop-b'));
    linkSync(join(ws, 'prod/app.yaml'), join(ws, 'notes/app.yaml')); // a hard link into prod/
    paths = new WorkspacePaths(ws);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it.each([
    ['notes/plain.md', { real: 'notes/plain.md' }],
    ['notes/new/deeper.md', { real: 'notes/new/deeper.md' }],
    ['vlink/sneaky.yaml', { real: 'prod/sneaky.yaml' }],
    ['vlink', { real: 'prod' }],
    ['chain/x/y.yaml', { real: 'prod/x/y.yaml' }],
    ['notes/up/x', { real: 'prod/x' }],
    ['file-link', { real: 'prod/app.yaml', links: 2 }],
    ['out/x', { outside: true }],
    ['out', { outside: true }],
    ['loop-a/x', { error: 'ELOOP' }],
    ['notes/app.yaml', { real: 'notes/app.yaml', links: 2 }],
    ['prod/app.yaml', { real: 'prod/app.yaml', links: 2 }],
    ['notes/plain.md/x', { real: 'notes/plain.md/x' }],
    ['.', { real: '.' }],
  ])('%s → %j', async (p, expected) => {
    expect(await paths.resolve([p])).toEqual({ [p]: expected });
  });

  it('a workspace that does not exist yet holds no links', async () => {
    expect(await new WorkspacePaths(join(base, 'missing')).resolve(['vlink/x'])).toEqual({
      'vlink/x': { real: 'vlink/x' },
    });
  });

  it('a workspace reached through a link is compared by its real path', async () => {
    symlinkSync(ws, join(base, 'ws-link'));
    expect(await new WorkspacePaths(join(base, 'ws-link')).resolve(['vlink/x', 'out'])).toEqual({
      'vlink/x': { real: 'prod/x' },
      out: { outside: true },
    });
  });
});
