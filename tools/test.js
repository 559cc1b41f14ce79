#!/usr/bin/env node
'use strict';
/**
 * `npm test`: checks NATS/Postgres/Redis, runs the unit then the integration Jest project (extra
 * arguments go to both), and ends with one line `Tests: N passed, N failed[, N skipped]`.
 * Exits non-zero if anything failed or no test ran.
 */
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const infra = require('./lib/infra');

const PROJECTS = [
  { name: 'unit', args: [] },
  { name: 'integration', args: ['--runInBand'] },
];
const SUMMARY_LINE = /^(Test Suites|Tests|Snapshots|Time|Ran all test suites)/;
// eslint-disable-next-line no-control-regex -- strips ANSI color codes from Jest output
const ANSI = /\x1b\[[0-9;]*m/g;

/** Counts from a Jest `--json` result. Suites that failed to run (e.g. a compile error) count as failures. */
function countResults(json) {
  const counts = {
    passed: json.numPassedTests || 0,
    failed: json.numFailedTests || 0,
    skipped: (json.numPendingTests || 0) + (json.numTodoTests || 0),
    brokenSuites: [],
  };
  for (const suite of json.testResults || []) {
    const failedInside = (suite.assertionResults || []).some((a) => a.status === 'failed');
    if (suite.status === 'failed' && !failedInside) counts.brokenSuites.push(suite.name);
  }
  counts.failed += counts.brokenSuites.length;
  if (json.numRuntimeErrorTestSuites && counts.brokenSuites.length < json.numRuntimeErrorTestSuites) {
    counts.failed += json.numRuntimeErrorTestSuites - counts.brokenSuites.length;
  }
  return counts;
}

/** The final summary line; `skipped` only when there are any. */
function formatSummary({ passed, failed, skipped }) {
  return `Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
}

/** Forwards Jest's output, tagging its own summary block so only our final line starts with `Tests:`. */
function forward(stream, out, project) {
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', (line) => {
    out.write(SUMMARY_LINE.test(line.replace(ANSI, '')) ? `[${project}] ${line}\n` : `${line}\n`);
  });
  return new Promise((resolve) => rl.on('close', resolve));
}

function runJest(project, extraArgs, outputFile) {
  const jestBin = require.resolve('jest/bin/jest', { paths: [infra.ROOT] });
  const args = [
    jestBin,
    '--selectProjects',
    project.name,
    ...project.args,
    '--passWithNoTests',
    '--json',
    '--outputFile',
    outputFile,
    ...extraArgs,
  ];
  const env = { ...process.env };
  // output is piped through us; keep Jest's colors when our own terminal has them
  if (process.stderr.isTTY && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined) env.FORCE_COLOR = '1';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: infra.ROOT, env, stdio: ['inherit', 'pipe', 'pipe'] });
    const streams = [
      forward(child.stdout, process.stdout, project.name),
      forward(child.stderr, process.stderr, project.name),
    ];
    child.on('error', (err) => {
      console.error(`cannot run jest: ${err.message}`);
      resolve({ code: 1 });
    });
    child.on('close', (code, signal) => {
      void Promise.all(streams).then(() => resolve({ code: code ?? 1, signal }));
    });
  });
}

async function main() {
  const extraArgs = process.argv.slice(2);
  if (extraArgs.includes('-h') || extraArgs.includes('--help')) {
    console.log(
      'Usage: npm test [-- <jest args>]\nRuns the unit and integration Jest projects; extra args (paths, -t pattern) go to both.',
    );
    return 0;
  }
  if (!(await infra.requireInfrastructure(process.env))) {
    console.error('\nnpm test needs NATS, Postgres and Redis (the integration tests use the real servers).');
    console.log(formatSummary({ passed: 0, failed: 0, skipped: 0 }));
    return 1;
  }

  const outDir = process.env.WARDEN_TEST_RESULTS_DIR || path.join(infra.ROOT, 'var', 'test-results');
  fs.mkdirSync(outDir, { recursive: true });
  const total = { passed: 0, failed: 0, skipped: 0 };
  const problems = [];
  for (const project of PROJECTS) {
    const outputFile = path.join(outDir, `${project.name}.json`);
    fs.rmSync(outputFile, { force: true });
    const { code, signal } = await runJest(project, extraArgs, outputFile);
    let json;
    try {
      json = JSON.parse(fs.readFileSync(outputFile, 'utf8'));
    } catch {
      problems.push(`${project.name}: jest produced no results (exit ${signal || code})`);
      total.failed += 1;
      continue;
    }
    const c = countResults(json);
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
    for (const s of c.brokenSuites)
      problems.push(`${project.name}: suite failed to run: ${path.relative(infra.ROOT, s)}`);
    if (code !== 0 && c.failed === 0) {
      problems.push(`${project.name}: jest exited ${code} without a failing test (see its output above)`);
      total.failed += 1;
    }
  }

  console.log('');
  for (const p of problems) console.log(p);
  if (total.passed + total.failed === 0) console.log('no test ran');
  console.log(formatSummary(total));
  return total.failed > 0 || total.passed + total.failed === 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err && err.stack ? err.stack : err);
      process.exit(1);
    },
  );
}

module.exports = { countResults, formatSummary };
