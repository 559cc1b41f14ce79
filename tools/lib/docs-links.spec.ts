import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const README_MAX_LINES = 250;

/** README.md and every markdown page under docs/, as paths relative to the repository root. */
function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) out.push(path);
    }
  };
  walk('docs');
  return out;
}

/** The text outside fenced code blocks and inline code spans (links there are examples, not links). */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/(`+)[\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, ' '));
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Every inline link `[text](target)` in a file's prose whose target is not an absolute URL. */
function relativeLinks(file: string): Link[] {
  const text = prose(readFileSync(join(ROOT, file), 'utf8'));
  const links: Link[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
    links.push({ file, line: text.slice(0, m.index).split('\n').length, target });
  }
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenBecause(link: Link): string | undefined {
  const hash = link.target.indexOf('#');
  const pathPart = decodeURI(hash === -1 ? link.target : link.target.slice(0, hash));
  const anchor = hash === -1 ? undefined : decodeURIComponent(link.target.slice(hash + 1));
  const targetFile = pathPart ? resolve(ROOT, dirname(link.file), pathPart) : join(ROOT, link.file);
  if (relative(ROOT, targetFile).startsWith('..')) return 'leads outside the repository';
  if (!existsSync(targetFile)) return 'no such file';
  if (anchor === undefined) return undefined;
  if (!targetFile.endsWith('.md')) return 'an anchor into a file that is not markdown';
  return anchors(readFileSync(targetFile, 'utf8')).has(anchor) ? undefined : `no heading #${anchor}`;
}

describe('documentation links', () => {
  const files = markdownFiles();

  it('finds the README and the docs pages', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/contract.md', 'docs/architecture.md']));
  });

  it('every relative link and anchor in README.md and docs/**/*.md resolves', () => {
    const links = files.flatMap(relativeLinks);
    expect(links.length).toBeGreaterThan(50);
    const broken = links
      .map((l) => ({ l, why: brokenBecause(l) }))
      .filter((x) => x.why)
      .map(({ l, why }) => `${l.file}:${l.line} (${l.target}): ${why}`);
    expect(broken).toEqual([]);
  });

  it(`README.md stays a front door of at most ${README_MAX_LINES} lines`, () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it('nothing points at a contract outside the repository', () => {
    const outside = files.filter((f) => /\.\.\/shared\/CONTRACT\.md/i.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(outside).toEqual([]);
  });
});

describe('the link checker itself', () => {
  it('computes GitHub anchors: punctuation dropped, code spans kept as text, repeats numbered', () => {
    const a = anchors(
      [
        '# Policy: the language, versions, replay',
        '## `fs.write_file` reports whether it created the file',
        '## Refusals: `command_refused`',
        "## On the orchestrator's side",
        '## Tests',
        '## Tests',
        '```',
        '# not a heading',
        '```',
      ].join('\n'),
    );
    expect([...a]).toEqual([
      'policy-the-language-versions-replay',
      'fswrite_file-reports-whether-it-created-the-file',
      'refusals-command_refused',
      'on-the-orchestrators-side',
      'tests',
      'tests-1',
    ]);
  });

  it('ignores links inside code and reports a missing file and a missing heading', () => {
    const text = prose('see `[x](nowhere.md)` and\n```\n[y](nowhere.md)\n```\n[z](README.md#no-such-heading)');
    expect(text).not.toContain('nowhere.md');
    expect(brokenBecause({ file: 'README.md', line: 1, target: 'docs/nowhere.md' })).toBe('no such file');
    expect(brokenBecause({ file: 'README.md', line: 1, target: '#no-such-heading' })).toBe(
      'no heading #no-such-heading',
    );
    expect(brokenBecause({ file: 'docs/architecture.md', line: 1, target: '../../outside.md' })).toBe(
      'leads outside the repository',
    );
    expect(brokenBecause({ file: 'README.md', line: 1, target: '#quick-start' })).toBeUndefined();
  });
});
