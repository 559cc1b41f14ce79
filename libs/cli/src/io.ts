/** Where a command writes and what it reads: the process's streams and env, or a test's capture. */
export interface Output {
  write(text: string): unknown;
  /** set on a terminal: progress bars draw only there */
  isTTY?: boolean;
  /** streams that can fill up (a file, a pipe) wait for 'drain' */
  once?(event: 'drain', listener: () => void): unknown;
}

export interface Io {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  /** the directory holding var/admin.token (as written by `npm start`); default: the repository root */
  root?: string;
}
