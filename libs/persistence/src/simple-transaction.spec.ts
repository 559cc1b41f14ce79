import { sqlLiteral, textArrayLiteral, uuidArrayLiteral } from './simple-transaction';

describe('literals for simple-protocol text', () => {
  it('escapes quotes and backslashes so a value can never end its literal', () => {
    expect(sqlLiteral("it's")).toBe("'it''s'");
    expect(sqlLiteral("a\\'); DROP TABLE x; --")).toBe(" E'a\\\\''); DROP TABLE x; --'");
    expect(sqlLiteral(null)).toBe('NULL');
  });

  it('builds typed arrays and refuses a type that is not a plain name', () => {
    expect(textArrayLiteral(['a', null], 'text')).toBe("ARRAY['a', NULL]::text[]");
    expect(() => textArrayLiteral(['a'], 'text[]); DROP TABLE x; --')).toThrow(/not a type name/);
  });

  it('inlines only exact uuids', () => {
    expect(uuidArrayLiteral(['0B6F1C6E-9C3A-4D7E-8F00-1A2B3C4D5E6F'])).toBe(
      "ARRAY['0b6f1c6e-9c3a-4d7e-8f00-1a2b3c4d5e6f']::uuid[]",
    );
    expect(() => uuidArrayLiteral(["' OR '1'='1"])).toThrow(/not a uuid/);
  });
});
