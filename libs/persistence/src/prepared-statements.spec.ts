import { PREPARED_MAX, StatementNames } from './prepared-statements';

describe('StatementNames', () => {
  it('names a text the second time it is seen, always with the same name, derived from the text', () => {
    const names = new StatementNames();
    const sql = 'UPDATE t SET v = $2 WHERE id = $1';
    expect(names.nameFor(sql)).toBeUndefined();
    const name = names.nameFor(sql);
    expect(name).toMatch(/^warden_[0-9a-f]{32}$/);
    expect(names.nameFor(sql)).toBe(name);
    // another process (a replica) names it the same
    const other = new StatementNames();
    other.nameFor(sql);
    expect(other.nameFor(sql)).toBe(name);
    expect(names.nameFor('UPDATE t SET v = $2 WHERE id = $1 ')).toBeUndefined(); // another text
  });

  it('never names a text that returns * (its columns follow the table)', () => {
    const names = new StatementNames();
    for (const sql of [
      'SELECT * FROM t WHERE id = $1',
      'select t.* from t where id = $1',
      'SELECT DISTINCT * FROM t WHERE id = $1',
      'WITH ins AS (INSERT INTO t (id) VALUES ($1) RETURNING *) SELECT id FROM ins',
    ]) {
      names.nameFor(sql);
      expect(names.nameFor(sql)).toBeUndefined();
    }
    const counted = 'SELECT count(*) AS n FROM t WHERE id = $1'; // count(*) is not a star select
    names.nameFor(counted);
    expect(names.nameFor(counted)).toMatch(/^warden_/);
  });

  it(`prepares at most ${PREPARED_MAX} texts; texts built per call that never repeat take no slot`, () => {
    const names = new StatementNames();
    for (let i = 0; i < 5000; i++) expect(names.nameFor(`SELECT $1::int + ${i}`)).toBeUndefined();
    expect(names.size).toBe(0);
    for (let i = 0; i < PREPARED_MAX + 10; i++) {
      names.nameFor(`SELECT $1::int - ${i}`);
      names.nameFor(`SELECT $1::int - ${i}`);
    }
    expect(names.size).toBe(PREPARED_MAX);
    const late = `SELECT $1::int * 2`;
    names.nameFor(late);
    expect(names.nameFor(late)).toBeUndefined();
    expect(names.nameFor(`SELECT $1::int - 0`)).toMatch(/^warden_/); // the named ones stay named
  });

  it('a forgotten text is never named again (its plan went stale under a migration)', () => {
    const names = new StatementNames();
    const sql = 'SELECT v FROM t WHERE id = $1';
    names.nameFor(sql);
    expect(names.nameFor(sql)).toMatch(/^warden_[0-9a-f]{32}$/);
    names.forget(sql);
    expect(names.size).toBe(0);
    expect(names.nameFor(sql)).toBeUndefined();
    expect(names.nameFor(sql)).toBeUndefined();
  });
});
