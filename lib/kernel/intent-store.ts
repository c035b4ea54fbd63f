/**
 * Where intent records live (docs/crash-safety.md): a multi-step operation writes one before
 * its first ioctl that changes anything, rewrites it before each step whose effect would need
 * recovery, and removes it after its last step, so that a later process (`dm.recover()`) can
 * finish or take back what a process that died half-way left. Records are declarative data
 * (JSON): names, uuids, device numbers, thin ids, semaphore ids; never a table, never a key.
 *
 * The real backend keeps them as files under `/run/devicemapper/intents/` (or the client's
 * `stateDir`): each written to a temporary name and renamed over the record, so a reader sees
 * a whole record or none (no fsync: /run is tmpfs and does not outlive a reboot, which ends
 * every suspended device and semaphore too). The simulator keeps them in memory per simulated
 * kernel (testing/sim-processes.ts) and never touches the host.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DmSyscallError, ERRNO } from '../../ffi/errors.js';
import { DmArgumentError } from '../errors.js';
import { describeValue } from '../client/args.js';

/** A process as a record names it: its pid and its start time, so a reused pid is not taken for the writer. */
export interface ProcessIdentity {
  /** The process id. */
  readonly pid: number;
  /** Its start time (field 22 of /proc/<pid>/stat, clock ticks since boot, as text; the simulator's own counter). */
  readonly startTime: string;
}

/** A device as a record names it: enough to find it again and to prove it is the same one. */
export interface IntentDevice {
  /** Its name when recorded. */
  readonly name: string;
  /** Its uuid (null: none). */
  readonly uuid: string | null;
  /** Its device number, once a reply told it (absent: recorded before the create landed). */
  readonly dev?: { readonly major: number; readonly minor: number } | undefined;
}

/** One effect an operation has (or may have) had that recovery would have to take back or finish. */
export type IntentEffect =
  /** The operation suspends (or suspended) this device: recovery resumes it if it still is the same device and still suspended. */
  | { readonly kind: 'suspended'; readonly device: IntentDevice; readonly noflush?: boolean; readonly skipLockfs?: boolean }
  /** The operation loads (or loaded) an inactive table into this device: recovery clears it (before resuming anything). */
  | { readonly kind: 'loaded'; readonly device: IntentDevice }
  /** createDevice is making this device: recovery removes it (nobody was told about it). */
  | { readonly kind: 'created'; readonly device: IntentDevice }
  /** A short-lived helper device (ThinPool.delete's discard activation): recovery removes it. */
  | { readonly kind: 'temporary'; readonly device: IntentDevice }
  /**
   * A thin id this operation asks the pool to create (`create_thin`, `create_snap`):
   * `phase` 'sending' until the message's reply came back, 'created' after. `absentBefore`:
   * the id was proven not to exist before the message (so it cannot be someone else's).
   * Recovery deletes it when it is certainly ours (created, or absent before). Phase
   * 'deleting': ThinPool.delete has begun discarding it (which cannot be taken back), so
   * recovery completes the delete.
   */
  | { readonly kind: 'thin-id'; readonly pool: IntentDevice; readonly id: number; readonly phase: 'sending' | 'created' | 'deleting'; readonly absentBefore: boolean }
  /** removeTree: these devices, top-down; `removed` those gone already. Recovery completes the removal (rolls forward). */
  | { readonly kind: 'removing'; readonly devices: readonly IntentDevice[]; readonly removed: readonly number[] }
  /** A udev cookie semaphore the library made for one of its own calls: recovery removes it. */
  | { readonly kind: 'cookie'; readonly cookie: number; readonly semid: number };

/** One operation's intent record. */
export interface IntentRecord {
  /** Format version of the record. */
  readonly version: 1;
  /** The operation (`'createDevice'`, `'ThinPool.snapshot'` …). */
  readonly op: string;
  /** The process that runs it. */
  readonly pid: number;
  /** Its start time (see {@link ProcessIdentity}). */
  readonly startTime: string;
  /** When the record was first written (ms since the epoch). */
  readonly startedAtMs: number;
  /** What the operation has done or is doing, in order. */
  readonly effects: readonly IntentEffect[];
  /** Why an earlier recovery left this record (a step that failed). */
  readonly notes?: readonly string[];
}

/** A record as found in the store. */
export interface StoredIntent {
  /** Its key in the store. */
  readonly key: string;
  /** The record. */
  readonly record: IntentRecord;
  /** The recoverer that claimed it, if one did (it may itself have died). */
  readonly claimedBy?: ProcessIdentity;
}

/**
 * A backend's record store. Writes are atomic (a reader sees the whole old or the whole new
 * record). `claim` takes a record for recovery atomically: of two recoverers, one wins.
 */
export interface IntentStore {
  /** Where the records live (a directory, or a description). */
  readonly location: string;
  /** This process. */
  self(): ProcessIdentity;
  /** Whether a process with this pid and this start time is alive. */
  alive(p: ProcessIdentity): boolean;
  /** Writes (creates or replaces) this process's record `key`. */
  write(key: string, record: IntentRecord): void;
  /** Removes this process's record `key` (a missing one is fine). */
  remove(key: string): void;
  /** Every record, claimed or not. */
  list(): StoredIntent[];
  /** Claims `entry` for `self()` (reclaims one whose claimer died); undefined when another process got it first. */
  claim(entry: StoredIntent): StoredIntent | undefined;
  /** Gives a claimed record back under its owner's key, rewritten (a recovery step failed: it stays, with a note, for a later recovery). */
  unclaim(entry: StoredIntent, record: IntentRecord): void;
  /** Removes a claimed record (recovered). */
  removeClaimed(entry: StoredIntent): void;
}

/** Where the real backend keeps records unless the client gives `stateDir`. */
export const DEFAULT_STATE_DIR = '/run/devicemapper';

/** Fields 3 (state) and 22 (start time) of /proc/<pid>/stat, or undefined when there is no such process. */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may hold spaces or ')': the fields after the last ')' start at 3.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const startTime = rest[22 - 3];
  return startTime === undefined ? undefined : { state: rest[0] ?? '', startTime };
}

/** The start time of `pid` (field 22 of /proc/<pid>/stat), or undefined when there is no such process. */
export function procStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

/**
 * The host's processes, by /proc: alive when the pid runs with the recorded start time. A
 * zombie (killed, not yet reaped by its parent: state Z or X) is dead: it runs nothing.
 */
export function hostAlive(p: ProcessIdentity): boolean {
  const now = procStat(p.pid);
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z' && now.state !== 'X';
}

const RECORD = /^(\d+)-(\d+)-([A-Za-z0-9]+)\.json$/;
const CLAIMED = /^(\d+-\d+-[A-Za-z0-9]+\.json)\.claimed\.(\d+)-(\d+)$/;

/** The real backend's store: one JSON file per record under `<stateDir>/intents/`. */
export function fileIntentStore(stateDir: string = DEFAULT_STATE_DIR): IntentStore {
  if (typeof stateDir !== 'string' || stateDir.length === 0 || stateDir.includes('\0')) throw new DmArgumentError('stateDir', 'a directory path', describeValue(stateDir));
  const dir = path.join(stateDir, 'intents');
  let me: ProcessIdentity | undefined;
  const self = (): ProcessIdentity => (me ??= { pid: process.pid, startTime: procStartTime(process.pid) ?? '0' });
  const fail = (e: unknown, syscall: string, p: string): never => {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    const errno = typeof code === 'string' && code in ERRNO ? ERRNO[code as keyof typeof ERRNO] : ERRNO.EIO;
    throw new DmSyscallError(`intent record ${p}: ${String((e as Error).message)}`, { errno, syscall, path: p });
  };
  const atomicWrite = (file: string, record: IntentRecord) => {
    const tmp = path.join(dir, `.${path.basename(file)}.tmp`);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
      fs.renameSync(tmp, file);
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch { /* not made */ }
      fail(e, 'write', file);
    }
  };
  const unlink = (file: string) => {
    try { fs.unlinkSync(file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') fail(e, 'unlink', file); }
  };
  const fileOf = (key: string) => path.join(dir, `${key}.json`);
  return {
    location: dir,
    self,
    alive: hostAlive,
    write: (key, record) => atomicWrite(fileOf(key), record),
    remove: (key) => unlink(fileOf(key)),
    list() {
      let names: string[];
      try { names = fs.readdirSync(dir); } catch { return []; }
      const out: StoredIntent[] = [];
      for (const n of names) {
        const claimed = CLAIMED.exec(n);
        const base = claimed ? claimed[1]! : n;
        if (!RECORD.test(base)) continue;
        let record: IntentRecord;
        try { record = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as IntentRecord; } catch { continue; } // gone meanwhile
        out.push({ key: claimed ? n : base.slice(0, -'.json'.length), record, ...(claimed ? { claimedBy: { pid: Number(claimed[2]), startTime: claimed[3]! } } : {}) });
      }
      return out;
    },
    claim(entry) {
      const me = self();
      const from = path.join(dir, entry.claimedBy ? entry.key : `${entry.key}.json`);
      const base = entry.claimedBy ? CLAIMED.exec(entry.key)![1]! : `${entry.key}.json`;
      const to = `${base}.claimed.${me.pid}-${me.startTime}`;
      try {
        fs.renameSync(from, path.join(dir, to));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // another recoverer took it first
        fail(e, 'rename', from);
      }
      return { key: to, record: entry.record, claimedBy: me };
    },
    unclaim(entry, record) {
      atomicWrite(path.join(dir, CLAIMED.exec(entry.key)?.[1] ?? `${entry.key}.json`), record);
      unlink(path.join(dir, entry.key));
    },
    removeClaimed: (entry) => unlink(path.join(dir, entry.key)),
  };
}

/** A record key for this process: unique per process and operation. */
export function intentKey(p: ProcessIdentity, seq: number): string {
  return `${p.pid}-${p.startTime}-${seq.toString(36)}${Math.floor(Math.random() * 0x100000).toString(36)}`;
}
