import { isUnder, normaliseWorkspacePath, pathProblems } from './paths';

describe('normaliseWorkspacePath', () => {
  it.each([
    ['a/b.txt', 'a/b.txt'],
    ['./a//b/', 'a/b'],
    ['a/../b', 'b'],
    ['a\\b', 'a/b'],
    ['', '.'],
    ['.', '.'],
    ['a/..', '.'],
    ['..foo/bar', '..foo/bar'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseWorkspacePath(input)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ['/etc/passwd', 'is absolute'],
    ['\\etc', 'is absolute'],
    ['c:/x', 'is absolute'],
    ['..', 'escapes the workspace'],
    ['../x', 'escapes the workspace'],
    ['a/../../x', 'escapes the workspace'],
    ['a\\..\\..\\x', 'escapes the workspace'],
    ['a\0b', 'contains a NUL byte'],
  ])('%j is refused: %s', (input, reason) => {
    expect(normaliseWorkspacePath(input)).toEqual({ ok: false, reason });
  });
});

describe('pathProblems', () => {
  it('checks only the named arguments, each array item, and refuses non-strings', () => {
    expect(pathProblems({ url: '/abs/is/fine/here', path: 'ok' }, ['path'])).toEqual([]);
    expect(pathProblems({ path: 5, src: ['a', '../b'], dest: null }, ['path', 'src', 'dest'])).toEqual([
      { arg: 'path', reason: 'must be a string path' },
      { arg: 'src.1', reason: 'escapes the workspace' },
    ]);
  });
});

describe('isUnder', () => {
  it.each([
    ['prod/a', 'prod/', true],
    ['prod', 'prod', true],
    ['./prod/x', 'prod', true],
    ['production/x', 'prod/', false],
    ['src/prod/x', 'prod/', false],
    ['../prod/x', 'prod/', false],
    ['anything', '.', true],
  ])('%j under %j → %s', (p, prefix, expected) => {
    expect(isUnder(p, prefix)).toBe(expected);
  });
});
