import * as fs from 'node:fs';
import type { Dirent, RmOptions, Stats } from 'node:fs';

/** An open file as the fs tools use it: the part of `FileHandle` they call. */
export interface OpenFile {
  readonly fd: number;
  stat(): Promise<Stats>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** The rest of the file from the current position. */
  readFile(): Promise<Buffer>;
  truncate(length: number): Promise<void>;
  /** Written from the current position. */
  writeFile(data: string | Buffer): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls of the fs tools and the path checks, as promises, whichever way they are made. */
export interface FsOps {
  /** `realpath(3)`: every symlink resolved. */
  realpath(p: string): Promise<string>;
  stat(p: string): Promise<Stats>;
  lstat(p: string): Promise<Stats>;
  readlink(p: string): Promise<string>;
  mkdirs(p: string): Promise<void>;
  readdir(p: string): Promise<Dirent[]>;
  open(p: string, flags: number, mode?: number): Promise<OpenFile>;
  unlink(p: string): Promise<void>;
  rm(p: string, opts: RmOptions): Promise<void>;
}

/** Through libuv's thread pool: what a process that runs many things at once (a worker, inline) needs. */
export const pooledFs: FsOps = {
  realpath: (p) => fs.promises.realpath(p),
  stat: (p) => fs.promises.stat(p),
  lstat: (p) => fs.promises.lstat(p),
  readlink: (p) => fs.promises.readlink(p),
  mkdirs: async (p) => {
    await fs.promises.mkdir(p, { recursive: true });
  },
  readdir: (p) => fs.promises.readdir(p, { withFileTypes: true }),
  open: (p, flags, mode) => fs.promises.open(p, flags, mode),
  unlink: (p) => fs.promises.unlink(p),
  rm: (p, opts) => fs.promises.rm(p, opts),
};

/** A descriptor used with blocking calls; the same operations as a `FileHandle`. */
class BlockingFile implements OpenFile {
  constructor(readonly fd: number) {}
  async stat(): Promise<Stats> {
    return fs.fstatSync(this.fd);
  }
  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return { bytesRead: fs.readSync(this.fd, buffer, offset, length, position) };
  }
  async readFile(): Promise<Buffer> {
    return fs.readFileSync(this.fd);
  }
  async truncate(length: number): Promise<void> {
    fs.ftruncateSync(this.fd, length);
  }
  async writeFile(data: string | Buffer): Promise<void> {
    fs.writeFileSync(this.fd, data);
  }
  async sync(): Promise<void> {
    fs.fsyncSync(this.fd);
  }
  async close(): Promise<void> {
    fs.closeSync(this.fd);
  }
}

/**
 * The same calls made directly on the event loop's thread (same system calls, same errors, as
 * rejections). For a sandbox, which runs one execution at a time and is killed past its time: each
 * call through the pool costs two thread wake-ups, ~2 ms and ~0.65 ms of CPU for a small
 * `fs.read_file` here, against ~0.2 ms done directly.
 */
export const blockingFs: FsOps = {
  realpath: async (p) => fs.realpathSync.native(p),
  stat: async (p) => fs.statSync(p),
  lstat: async (p) => fs.lstatSync(p),
  readlink: async (p) => fs.readlinkSync(p),
  mkdirs: async (p) => {
    fs.mkdirSync(p, { recursive: true });
  },
  readdir: async (p) => fs.readdirSync(p, { withFileTypes: true }),
  open: async (p, flags, mode) => new BlockingFile(fs.openSync(p, flags, mode)),
  unlink: async (p) => fs.unlinkSync(p),
  rm: async (p, opts) => fs.rmSync(p, opts),
};

/** Both ways, for tests that must hold for each. */
export const FS_MODES = ['pooled', 'blocking'] as const;

let current: FsOps = pooledFs;

/** The calls this process makes: {@link pooledFs} unless {@link useBlockingFs} was called. */
export function fsOps(): FsOps {
  return current;
}

/**
 * Makes this process's fs tools call the file system directly ({@link blockingFs}). Only for a
 * process that runs one execution at a time (the sandbox child, at start); `false` restores the pool.
 */
export function useBlockingFs(on = true): void {
  current = on ? blockingFs : pooledFs;
}
