/** Bad command-line usage: printed as `warden: <message>` and `(see: warden help)`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the user can act on: printed as `warden: <message>`, exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Exit codes: 0 ok, 1 error, 2 usage, 3 a waited-for run ended other than succeeded (or a replay, or an audit, differs). */
export const EXIT = { ok: 0, error: 1, usage: 2, differs: 3 } as const;
