/**
 * The sandbox process's entry when the build bundled it (`tools/bundle-sandbox.js`): runs
 * `sandbox-child.bundle.js` — the sandbox and every module it loads, in one file — compiled from the
 * V8 code cache made at build time. A start then reads two files instead of resolving and compiling
 * some 170 modules: ~230 ms of CPU here instead of ~350. A cache V8 refuses (another Node, other
 * flags) only costs the compile; the code run is the bundle either way.
 *
 * `--write-code-cache` (build time only) writes the cache after the bundle's start-up code ran, so it
 * holds everything compiled during a start.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import * as path from 'node:path';
import { Script } from 'node:vm';
import { BUNDLE, CODE_CACHE } from './bundle-files';

function run(): void {
  const file = path.join(__dirname, BUNDLE);
  const cacheFile = path.join(__dirname, CODE_CACHE);
  const write = process.argv.includes('--write-code-cache');
  let cachedData: Buffer | undefined;
  if (!write) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // no cache: compile
    }
  }
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string,
  ) => void;
  const mod = { exports: {} };
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, __dirname);
  if (write) writeFileSync(cacheFile, script.createCachedData());
}

run();
