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
});
