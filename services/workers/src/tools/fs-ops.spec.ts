import { createHook } from 'node:async_hooks';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { useBlockingFs } from './fs-ops';
import { prepareWorkspace } from './path-safety';
import { runTool } from './run-tool';
import { ToolRegistry } from './tool-registry';

const tools = new ToolRegistry();

/** Requests handed to libuv's thread pool (fs calls through it) while `fn` runs. */
async function poolRequests(fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK') n++;
    },
  });
  hook.enable();
  try {
    await fn();
  } finally {
    hook.disable();
  }
  return n;
}

describe('fs tools in a sandbox call the file system directly, not through the thread pool', () => {
  let base: string;
  let root: string;
  const run = (tool: string, args: Record<string, unknown>) =>
    runTool(tools, { tool, args }, { root, sandboxed: true });
  const everyTool = async () => {
    const results = [
      await run('fs.read_file', { path: 'docs/a.txt' }),
      await run('fs.write_file', { path: 'docs/b.txt', content: 'new' }),
      await run('fs.write_file', { path: 'docs/a.txt', content: 'replaced' }),
      await run('fs.list_dir', { path: 'docs' }),
      await run('fs.delete', { path: 'docs/b.txt' }),
      await run('fs.read_file', { path: '../outside.txt' }),
    ];
    return results;
  };

  beforeEach(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'warden-fsops-'));
    writeFileSync(path.join(base, 'outside.txt'), 'outside');
    root = await prepareWorkspace(path.join(base, 'ws'));
    mkdirSync(path.join(root, 'docs'));
    writeFileSync(path.join(root, 'docs/a.txt'), 'hello');
  });
  afterEach(() => {
    useBlockingFs(false);
    rmSync(base, { recursive: true, force: true });
  });

  it('blocking: every fs tool, a refusal included, makes no thread-pool request and does what the pooled calls do', async () => {
    const pooledResults = await everyTool();
    writeFileSync(path.join(root, 'docs/a.txt'), 'hello');
    useBlockingFs();
    let blockingResults: unknown[] = [];
    expect(await poolRequests(async () => (blockingResults = await everyTool()))).toBe(0);
    expect(blockingResults).toEqual(pooledResults);
    // what each did: read, created, replaced (reporting the old content), listed, deleted, refused
    expect(pooledResults.map((r) => r.error?.code ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'PATH.ESCAPE']);
    expect(pooledResults[0]!.output).toEqual({ content: 'hello', bytes: 5 });
    expect(pooledResults[2]!.output).toMatchObject({ created: false, previous_content: 'hello' });
    expect(pooledResults[4]!.output).toEqual({ path: 'docs/b.txt', deleted: 'file' });
  });

  it('pooled (a worker running tools in process): the same tools go through the pool', async () => {
    expect(await poolRequests(everyTool)).toBeGreaterThanOrEqual(20);
  });
});
