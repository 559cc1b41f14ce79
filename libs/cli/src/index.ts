/**
 * The `warden` command line as a library: `main(argv, io)` runs one command and returns its exit
 * code; `runCli()` is the `bin` entry (process streams, EPIPE handled). Command groups live in
 * `src/commands/`, each a {@link CommandModule}; {@link passThrough} wires a command that hands its
 * arguments to another package (e.g. `warden agent …`).
 * @example
 * import { main } from '@warden/cli';
 * const code = await main(['runs', '--limit', '5'], { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
import { agentCommands } from './commands/agent';
import { approvalsCommands } from './commands/approvals';
import { auditCommands } from './commands/audit';
import { dlqCommands } from './commands/dlq';
import { keysCommands } from './commands/keys';
import { mcpCommands } from './commands/mcp';
import { plansCommands } from './commands/plans';
import { policyCommands } from './commands/policy';
import { runsCommands } from './commands/runs';
import { signingCommands } from './commands/signing';
import type { Io } from './io';
import { fullUsage, processIo, runProgram, type CommandModule } from './program';

/** Every command group, in the order `warden help` lists them. */
export const MODULES: readonly CommandModule[] = [
  runsCommands,
  policyCommands,
  approvalsCommands,
  plansCommands,
  keysCommands,
  mcpCommands,
  signingCommands,
  dlqCommands,
  auditCommands,
  agentCommands,
];

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code: 0 ok, 1 error,
 * 2 usage, 3 a waited-for run ended other than succeeded (or a replay or audit differs).
 */
export function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  return runProgram(argv, io, MODULES);
}

/** The `warden help` text. */
export const usage = (): Promise<string> => fullUsage(MODULES);

/**
 * Makes a closed pipe (`warden … | head`) end the process quietly instead of crashing with EPIPE.
 * @example exitQuietlyOnEpipe(process.stdout)
 */
export function exitQuietlyOnEpipe(
  stream: NodeJS.WritableStream,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') exit(0);
    else throw err;
  });
}

/** The `bin` entry: runs `process.argv` and sets the exit code. */
export async function runCli(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  exitQuietlyOnEpipe(process.stdout);
  exitQuietlyOnEpipe(process.stderr);
  process.exitCode = await main(argv);
}

export { CliError, EXIT, UsageError } from './errors';
export type { Io, Output } from './io';
export { act, group, passThrough, type CommandModule, type Context } from './program';
export { createVerifier, verifyExportText, recordHash, checkpointPayload, GENESIS_HASH } from './audit-verify';
export type { VerifyReport } from './audit-verify';
export { parseAssignments } from './args';
export { describeProblem, operatorToken } from './http';
export { buildSubmission, deriveRunId, formatFinal, formatRun, formatRunTable, waitForRun } from './commands/runs';
export { formatVote } from './commands/approvals';
export { signingKeys } from './commands/signing';
