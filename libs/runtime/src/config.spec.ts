import { BaseEnv, envFlag, parseEnv } from './config';

describe('envFlag', () => {
  it('reads true/1 and false/0, takes the default when unset, and refuses anything else by name', () => {
    const on = envFlag(true);
    expect(on.parse(undefined)).toBe(true);
    expect(on.parse('0')).toBe(false);
    expect(on.parse('false')).toBe(false);
    expect(envFlag(false).parse(undefined)).toBe(false);
    expect(envFlag(false).parse('1')).toBe(true);
    expect(() => parseEnv(BaseEnv, { DATABASE_PREPARED_STATEMENTS: 'yes' })).toThrow(
      /DATABASE_PREPARED_STATEMENTS: Invalid option: expected one of "0"\|"1"\|"true"\|"false"/,
    );
  });

  it('prepared statements are on unless turned off', () => {
    expect(parseEnv(BaseEnv, {}).DATABASE_PREPARED_STATEMENTS).toBe(true);
    expect(parseEnv(BaseEnv, { DATABASE_PREPARED_STATEMENTS: 'false' }).DATABASE_PREPARED_STATEMENTS).toBe(false);
  });
});
