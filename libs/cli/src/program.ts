/**
 * The `warden` program: commander wiring shared by every command module, the full usage text
 * (`warden help`), and `main`, which parses argv, runs one command and returns its exit code.
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT, UsageError } from './errors';
import { REPO_ROOT, defaultUrl } from './http';
import type { Io } from './io';

/** What a running command shares with the program: its I/O and the exit code it set. */
export interface Context {
  io: Io;
  code: number;
}

/**
 * A group of commands: its section of `warden help` (first line: its heading) and how it adds its
 * commands to the program. Adding a command group = one module exporting this, listed in `MODULES`.
 */
export interface CommandModule {
  usage: string;
  register(program: Command, ctx: Context): void;
  /** subcommand run when the group is given none (or only options), e.g. `warden keys` = `warden keys list` */
  defaults?: Record<string, string>;
}

/**
 * A commander action that runs `fn` and records its exit code.
 * @example program.command('ping').action(act(ctx, async () => 0))
 */
export function act<A extends unknown[]>(ctx: Context, fn: (...args: A) => Promise<number>) {
  return async (...args: A): Promise<void> => {
    ctx.code = await fn(...args);
  };
}

/**
 * A command that only holds subcommands; given none, or one it does not know, it is a usage error
 * with `message(sub)` (e.g. `unknown keys command "frobnicate"`).
 */
export function group(
  program: Command,
  name: string,
  description: string,
  message: (sub: string | undefined) => string,
): Command {
  return program
    .command(name)
    .description(description)
    .argument('[command]', 'one of the commands below')
    .allowExcessArguments()
    .action((sub?: string) => {
      throw new UsageError(message(sub));
    });
}

/**
 * A command whose arguments all go, untouched, to another module's entry point: `run(argv, io)`
 * returns the exit code. `warden <name> --help` is that module's own help.
 * @example passThrough(program, ctx, 'agent', 'run the reference agent', (argv) => runAgentCommand(argv))
 */
export function passThrough(
  program: Command,
  ctx: Context,
  name: string,
  description: string,
  run: (argv: string[], io: Io) => Promise<number>,
): Command {
  return program
    .command(name)
    .description(description)
    .helpOption(false)
    .helpCommand(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(act(ctx, (args: string[]) => run(args, ctx.io)));
}

/** The program and its commands, writing to `ctx.io`; parse errors throw CommanderError (no process.exit). */
export function buildProgram(ctx: Context, modules: readonly CommandModule[]): Command {
  const program = new Command('warden')
    .description('Warden: every action an AI agent proposes is judged before it runs.')
    .usage('<command> [options]')
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (s) => void ctx.io.stdout.write(s),
      writeErr: (s) => void ctx.io.stderr.write(s),
      // errors are printed once, by main, as `warden: <message>`
      outputError: () => undefined,
    })
    .argument('[command]')
    .allowExcessArguments()
    .action((command?: string) => {
      throw new UsageError(`unknown command "${command}"`);
    });
  for (const m of modules) m.register(program, ctx);
  return program;
}

/**
 * The full `warden help` text: the heading, every module's section, environment and exit codes.
 * `{ingest}`, `{policy}`, `{orchestrator}`, `{approvals}` and `{nats}` in a section become the
 * default URLs (from SERVICE_PORTS in @warden/contracts).
 */
export async function fullUsage(modules: readonly CommandModule[]): Promise<string> {
  const names = ['ingest', 'policy', 'orchestrator', 'approvals', 'nats'] as const;
  const urls = new Map(await Promise.all(names.map(async (n) => [n, await defaultUrl(n)] as const)));
  return [
    'Usage: warden <command> [options]   (warden <command> --help: its options)',
    ...modules.map((m) => m.usage.trim()),
    FOOTER,
  ]
    .join('\n\n')
    .replace(/\{(ingest|policy|orchestrator|approvals|nats)\}/g, (_, n: (typeof names)[number]) => urls.get(n) ?? n);
}

const FOOTER = `Environment: NATS_URL, WARDEN_SUBJECT_PREFIX (warden), INGEST_URL, POLICY_URL,
ORCHESTRATOR_URL, APPROVALS_URL (see each section). Token for every HTTP call: WARDEN_TOKEN, else
WARDEN_BOOTSTRAP_ADMIN_TOKEN, else var/admin.token (as written by npm start).

Exit codes: 0 ok, 1 error (API refused, unreachable, no or bad token), 2 usage,
3 the waited-for run ended other than succeeded, or a replay differs.`;

/** `warden keys --json` → `warden keys list --json`: a group given no subcommand runs its default one. */
export function withDefaultSubcommand(argv: readonly string[], modules: readonly CommandModule[]): string[] {
  const [command, next] = argv;
  if (command === undefined) return [...argv];
  const fallback = modules.find((m) => m.defaults?.[command])?.defaults?.[command];
  if (!fallback || next === '-h' || next === '--help') return [...argv];
  if (next === undefined || next.startsWith('-')) return [command, fallback, ...argv.slice(1)];
  return [...argv];
}

/** Commander's message in the CLI's words: `unknown option --x`, `--x needs a value`. */
export function usageMessage(err: CommanderError): string {
  const m = err.message.replace(/^error: /, '');
  if (err.code === 'commander.unknownOption') return m.replace(/^unknown option '([^']+)'/, 'unknown option $1');
  if (err.code === 'commander.optionMissingArgument')
    return m.replace(
      /^option '(-[^ ,']+)(?:, )?([^ ']*)[^']*' argument missing$/,
      (_, a: string, b: string) => `${b.startsWith('--') ? b : a} needs a value`,
    );
  return m;
}

/** Prints an error the way the CLI does and returns its exit code. */
export function report(err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version')
      return err.exitCode;
    io.stderr.write(`warden: ${usageMessage(err)}\n(see: warden help)\n`);
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    io.stderr.write(`warden: ${err.message}\n(see: warden help)\n`);
    return EXIT.usage;
  }
  if (err instanceof CliError) {
    io.stderr.write(`warden: ${err.message}\n`);
    return EXIT.error;
  }
  io.stderr.write(`warden: ${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
  return EXIT.error;
}

/** The real process's streams and environment. */
export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, root: REPO_ROOT };
}

/**
 * Runs the CLI with `argv` (without node and script) over `modules` and returns the exit code.
 * `warden` alone prints the usage to stderr (exit 2); `warden help` prints it to stdout;
 * `warden help <command>` is `warden <command> --help`.
 */
export async function runProgram(argv: readonly string[], io: Io, modules: readonly CommandModule[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr.write(`${await fullUsage(modules)}\n`);
    return EXIT.usage;
  }
  if (command === 'help' || command === '-h' || command === '--help') {
    if (rest.length === 0) {
      io.stdout.write(`${await fullUsage(modules)}\n`);
      return EXIT.ok;
    }
    return runProgram([...rest, '--help'], io, modules);
  }
  const ctx: Context = { io, code: EXIT.ok };
  try {
    await buildProgram(ctx, modules).parseAsync(withDefaultSubcommand(argv, modules), { from: 'user' });
    return ctx.code;
  } catch (err) {
    return report(err, io);
  }
}
