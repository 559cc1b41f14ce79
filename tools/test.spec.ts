import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { countResults, formatSummary } from './test';

describe('countResults', () => {
  it('adds skipped and todo tests, and counts a suite that failed to run as a failure', () => {
    const json = {
      numPassedTests: 7,
      numFailedTests: 1,
      numPendingTests: 2,
      numTodoTests: 1,
      numRuntimeErrorTestSuites: 1,
      testResults: [
        { name: '/r/a.spec.ts', status: 'passed', assertionResults: [{ status: 'passed' }] },
        { name: '/r/b.spec.ts', status: 'failed', assertionResults: [{ status: 'failed' }, { status: 'passed' }] },
        { name: '/r/c.spec.ts', status: 'failed', assertionResults: [] },
      ],
    };
    expect(countResults(json)).toEqual({ passed: 7, failed: 2, skipped: 3, brokenSuites: ['/r/c.spec.ts'] });
  });

  it('treats an empty result as nothing run', () => {
    expect(countResults({})).toEqual({ passed: 0, failed: 0, skipped: 0, brokenSuites: [] });
  });
});

describe('formatSummary', () => {
  it('prints skipped only when there are any', () => {
    expect(formatSummary({ passed: 3, failed: 0, skipped: 0 })).toBe('Tests: 3 passed, 0 failed');
    expect(formatSummary({ passed: 3, failed: 1, skipped: 2 })).toBe('Tests: 3 passed, 1 failed, 2 skipped');
  });
});

describe('npm test', () => {
  it('fails with one summary line when no test matches', () => {
    const results = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-test-results-'));
    const r = spawnSync(process.execPath, [path.join(__dirname, 'test.js'), 'no_such_test_file_zz9'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', WARDEN_TEST_RESULTS_DIR: results },
      timeout: 60_000,
    });
    fs.rmSync(results, { recursive: true, force: true });
    expect(r.status).toBe(1);
    const summaryLines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('Tests:'));
    expect(summaryLines).toEqual(['Tests: 0 passed, 0 failed']);
  }, 70_000);
});
