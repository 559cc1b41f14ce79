import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** Every `exports`/`main` target under dist/ of a workspace package, with the source file it is built from. */
function builtEntries(): { pkg: string; entry: string; source: string }[] {
  const out: { pkg: string; entry: string; source: string }[] = [];
  for (const group of ['libs', 'services'])
    for (const name of readdirSync(join(ROOT, group))) {
      const file = join(ROOT, group, name, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { main?: string; exports?: Record<string, unknown> };
      const targets = [pkg.main, ...Object.values(pkg.exports ?? {})].filter(
        (t): t is string => typeof t === 'string' && /(^|\/)dist\//.test(t),
      );
      for (const entry of targets)
        out.push({
          pkg: `${group}/${name}`,
          entry,
          source: join(group, name, entry.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts')),
        });
    }
  return out;
}

describe('package entries point at code that exists', () => {
  it('every dist/ entry of a workspace package is built from a source file in the tree (benches and the CLI load them)', () => {
    const entries = builtEntries();
    expect(entries.length).toBeGreaterThan(10);
    expect(entries.filter((e) => !existsSync(join(ROOT, e.source)))).toEqual([]);
  });
});
