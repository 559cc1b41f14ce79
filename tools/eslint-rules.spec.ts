import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ESLint, type Linter } from 'eslint';
import repoConfig from '../eslint.config';

const ROOT = path.resolve(__dirname, '..');

/**
 * Lints `code` as if it lived at `file`, with the repo's config minus type information (the
 * files do not exist, so they are in no TypeScript program); the boundary rules need none.
 */
async function lint(file: string, code: string): Promise<string[]> {
  // the config is passed in directly: ESLint's own loader uses a dynamic import Jest cannot run
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [
      ...(repoConfig as Linter.Config[]),
      {
        files: ['**/*.ts'],
        languageOptions: { parserOptions: { project: null, projectService: false } },
        rules: {
          '@typescript-eslint/no-floating-promises': 'off',
          '@typescript-eslint/switch-exhaustiveness-check': 'off',
        },
      },
    ],
  });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('eslint boundary rules', () => {
  it('bans a relative import from one service into another', async () => {
    const msgs = await lint(
      'services/ingest/src/submission/x.ts',
      "export { loadConfig } from '../../../policy/src/config';\n",
    );
    expect(msgs).toEqual([
      'warden/no-cross-service-imports: services/ingest must not import from services/policy; share code through libs/ or the bus.',
    ]);
  });

  it("allows a service's own relative imports", async () => {
    expect(await lint('services/ingest/src/submission/x.ts', "export { loadConfig } from '../config';\n")).toEqual([]);
  });

  it('bans deep imports into a lib', async () => {
    const msgs = await lint('services/policy/src/x.ts', "export { newId } from '@warden/kernel/src/ids';\n");
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/^no-restricted-imports: .*never its src\/ or dist\//);
  });

  it('bans importing a service package from a service, and any service from a lib', async () => {
    expect(await lint('services/policy/src/x.ts', "export * from '@warden/ingest-service';\n")).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*never imports another service/),
    ]);
    expect(await lint('libs/bus/src/x.ts', "export * from '../../../services/ingest/src/config';\n")).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*must not import a service/),
    ]);
  });

  it('bans console in service and lib code, not in specs', async () => {
    expect(await lint('services/workers/src/x.ts', "console.log('x');\n")).toEqual([
      expect.stringMatching(/^no-console:/),
    ]);
    expect(await lint('services/workers/src/x.spec.ts', "console.log('x');\n")).toEqual([]);
  });

  it('lets libs/contracts import only zod and its own files', async () => {
    expect(await lint('libs/contracts/src/x.ts', "export { z } from 'zod';\nexport * from './events';\n")).toEqual([]);
    for (const source of ['@warden/kernel', '@nestjs/common', 'node:crypto', 'zod-to-json-schema'])
      expect([source, await lint('libs/contracts/src/x.ts', `export * from '${source}';\n`)]).toEqual([
        source,
        [expect.stringMatching(/^no-restricted-imports: .*libs\/contracts imports only 'zod'/)],
      ]);
    // its tests may use test tools
    expect(await lint('libs/contracts/src/x.spec.ts', "import fc from 'fast-check';\nexport { fc };\n")).toEqual([]);
  });

  it('reports an import cycle (real files: the rule follows imports on disk)', async () => {
    const dir = mkdtempSync(path.join(ROOT, 'libs', 'kernel', 'src', '.cycle-'));
    try {
      const file = (name: string, code: string) => {
        writeFileSync(path.join(dir, name), code);
        return path.relative(ROOT, path.join(dir, name));
      };
      file('b.ts', "import { a } from './a';\nexport const b = () => a;\n");
      const a = "import { b } from './b';\nexport const a = () => b;\n";
      expect(await lint(file('a.ts', a), a)).toEqual(['import-x/no-cycle: Dependency cycle detected']);
      file('d.ts', 'export const d = () => 1;\n');
      const c = "import { d } from './d';\nexport const c = () => d;\n";
      expect(await lint(file('c.ts', c), c)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('test placement', () => {
  it('keeps integration tests out of src/ (libs/*/test, services/*/test, test/)', () => {
    const inSrc = ['libs', 'services'].flatMap((top) =>
      readdirSync(path.join(ROOT, top)).flatMap((pkg) => {
        const src = path.join(ROOT, top, pkg, 'src');
        try {
          return (readdirSync(src, { recursive: true }) as string[])
            .filter((f) => f.endsWith('.int-spec.ts'))
            .map((f) => `${top}/${pkg}/src/${f}`);
        } catch {
          return [];
        }
      }),
    );
    expect(inSrc).toEqual([]);
  });
});
