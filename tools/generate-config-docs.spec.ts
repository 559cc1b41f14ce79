import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BaseEnv } from '@warden/runtime';

type Schemas = { z: typeof z; base: z.ZodType; services: Record<string, z.ZodType> };
// the generator reads each service's BUILT config schema (npm test builds first; alone: npm run build)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('./generate-config-docs') as {
  renderConfigDocs: (schemas?: Schemas) => string;
  loadSchemas: () => Schemas;
};

describe('docs/configuration.md, generated from the config schemas', () => {
  const schemas = generator.loadSchemas();
  const page = generator.renderConfigDocs(schemas);

  it('is up to date (run npm run contracts:generate after changing a config schema)', () => {
    expect(readFileSync(join(__dirname, '..', 'docs', 'configuration.md'), 'utf8')).toBe(page);
  });

  it('has a row for every variable every service reads, each with a description', () => {
    for (const schema of [schemas.base, ...Object.values(schemas.services)]) {
      const object = (
        schema instanceof z.ZodObject ? schema : (schema as unknown as { in: z.ZodObject }).in
      ) as z.ZodObject;
      for (const [name, field] of Object.entries(object.shape as Record<string, z.ZodType>)) {
        expect([name, field.description]).toEqual([name, expect.stringMatching(/\S/)]);
        expect(page).toContain(`| \`${name}\` |`);
      }
    }
  });

  it('shows types, defaults and computed defaults as a reader needs them', () => {
    expect(page).toContain('| `WORKER_ID` | string | `<hostname>-<pid>` |');
    expect(page).toContain('| `WORKER_SANDBOX` | `process` \\| `inline` | `process` |');
    expect(page).toContain('| `INGEST_PORT` | integer 0..65535 | `7101` |');
    expect(page).toContain('| `DASHBOARD_RUNS` | boolean (`true`/`1`, `false`/`0`) | `true` |');
  });

  it('refuses a variable without a description, naming it', () => {
    const bare = { ...schemas.services, policy: BaseEnv.extend({ POLICY_PORT: z.coerce.number().default(7102) }) };
    expect(() => generator.renderConfigDocs({ ...schemas, services: bare })).toThrow(/POLICY_PORT has no description/);
  });
});
