/**
 * Where dmctl reads and writes ({@link CliIo}) and the process's defaults. Its own module, with
 * no import that loads the library: the dispatcher (run.ts) builds it before it knows which
 * verb runs, and `dmctl thin …` must not load the client to read a metadata file.
 */
import * as fs from 'node:fs';
import type { CookieHost, DeviceMapper, DeviceMapperInspector, NodeOptions } from '../lib/index.js';

/** Where dmctl reads and writes: the process by default; `runDmctl(argv, io)` overrides any part. */
export interface CliIo {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** All of stdin (create/load tables, decode -). */
  readStdin(): Promise<string>;
  /** Whether stdin is a terminal (then create/load/decode do not wait for it). */
  readonly stdinIsTTY: boolean;
  /** The environment (DM_UDEV_COOKIE, DM_DEFAULT_NAME_MANGLING_MODE, DM_DISABLE_UDEV, LANG, …). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Opens the client (tests pass the simulator's backend); `stateDir` from `--state-dir`. */
  open(options?: { readonly stateDir?: string | undefined; readonly skipOpenCount?: boolean }): Promise<DeviceMapper>;
  /** The sysfs view read verbs fall back to when `open()` is refused for lack of privilege (default: the host's, `inspect()`). */
  readonly inspect?: () => DeviceMapperInspector;
  /** Reads a file as UTF-8 (`--table-file`, …). */
  readFile(path: string): string;
  /** sysfs root for read-ahead and device names (default /sys). */
  readonly sysfs: string;
  /** The terminal's width when stdout is a terminal (ls --tree cuts lines 3 short of it, as dmsetup), else undefined. */
  readonly columns?: number | undefined;
  /** Node handling (dir, udev, ops); `false` = never touch /dev/mapper. */
  readonly nodes: NodeOptions | false;
  /** Semaphores and udev state for the udev verbs (default: this host's, lib/udev/cookies.ts). */
  readonly cookieHost?: () => Promise<CookieHost>;
  /** Runs `ls --exec`'s command and waits for it (default: spawned with dmctl's stdio; `stdoutToStderr` under --json); resolves to its exit status. */
  readonly exec?: (argv: readonly string[], stdoutToStderr: boolean) => Promise<number | null>;
}

/** The process's stdio and environment; the client (and with it the library) is loaded when a verb opens it. */
export function defaultIo(): CliIo {
  return {
    stdout: (t) => { process.stdout.write(t); },
    stderr: (t) => { process.stderr.write(t); },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    stdinIsTTY: !!process.stdin.isTTY,
    env: process.env,
    // A command-line tool serves nothing else meanwhile: skip the thread-pool hop per ioctl.
    open: async (o) => (await import('../lib/index.js')).DeviceMapper.open({ blocking: true, ...(o?.stateDir === undefined ? {} : { stateDir: o.stateDir }), ...(o?.skipOpenCount ? { skipOpenCount: true } : {}) }),
    readFile: (p) => fs.readFileSync(p, 'utf8'),
    sysfs: '/sys',
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    nodes: {},
  };
}
