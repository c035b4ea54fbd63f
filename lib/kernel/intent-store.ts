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
  /**
   * Its pid namespace (`pid:[<inode>]`, the link /proc/self/ns/pid): a pid means nothing in
   * another namespace, so a process of another one is never taken for dead. Absent: unknown
   * (the simulator, or /proc unreadable), taken as this namespace.
   */
  readonly pidNs?: string | undefined;
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
   * the id was proven not to exist before the message. Recovery deletes it only when it is
   * certainly ours ('created': the reply was seen); a 'sending' id that exists may be another
   * process's made since, so it is reported, never deleted (docs/crash-safety.md). Phase
   * 'deleting': ThinPool.delete has begun discarding it (which cannot be taken back), so
   * recovery completes the delete.
   */
  | { readonly kind: 'thin-id'; readonly pool: IntentDevice; readonly id: number; readonly phase: 'sending' | 'created' | 'deleting'; readonly absentBefore: boolean }
  /** removeTree: these devices, top-down; `removed` those gone already. Recovery completes the removal (rolls forward). */
  | { readonly kind: 'removing'; readonly devices: readonly IntentDevice[]; readonly removed: readonly number[] }
  /**
   * A udev cookie semaphore the library makes for one of its own calls: recovery removes it
   * when it is provably that set (lib/udev/cookie-leftover.ts). Recorded first with the key
   * about to be tried and `notBeforeS`, before the semget; then with `semid` and `ctimeS` (the
   * set's sem_ctime after its SETVAL) before the call uses it.
   */
  | {
    readonly kind: 'cookie';
    /** The key (`0x0D4D << 16 | base`). */
    readonly cookie: number;
    /** The set's id once made (absent: recorded before its semget). */
    readonly semid?: number;
    /** The set's sem_ctime once made (seconds since the epoch). */
    readonly ctimeS?: number;
    /** When the key was recorded, before its semget (seconds since the epoch, rounded down). */
    readonly notBeforeS?: number;
  };

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
  /** Its pid namespace (see {@link ProcessIdentity}); absent in records of stores that do not know it. */
  readonly pidNs?: string | undefined;
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

/**
 * Fields 3 (state) and 22 (start time) of /proc/<pid>/stat, undefined when there is no such
 * process, 'unknown' when /proc would not say (hidepid, no /proc): not a proof of death.
 */
function procStat(pid: number): { state: string; startTime: string } | undefined | 'unknown' {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? undefined : 'unknown';
  }
  // comm (field 2) is in parentheses and may hold spaces or ')': the fields after the last ')' start at 3.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const startTime = rest[22 - 3];
  return startTime === undefined ? undefined : { state: rest[0] ?? '', startTime };
}

/** The start time of `pid` (field 22 of /proc/<pid>/stat), or undefined when there is no such process. */
export function procStartTime(pid: number): string | undefined {
  const s = procStat(pid);
  return s === 'unknown' ? undefined : s?.startTime;
}

let ownPidNs: string | null | undefined;
/** This process's pid namespace (`pid:[<inode>]`), or undefined when /proc does not tell it. */
export function pidNamespace(): string | undefined {
  if (ownPidNs === undefined) {
    try { ownPidNs = fs.readlinkSync('/proc/self/ns/pid'); } catch { ownPidNs = null; }
  }
  return ownPidNs ?? undefined;
}

/**
 * The host's processes, by /proc: alive when the pid runs with the recorded start time. A
 * zombie (killed, not yet reaped by its parent: state Z or X) is dead: it runs nothing.
 */
export function hostAlive(p: ProcessIdentity): boolean {
  // A pid of another namespace cannot be looked up from here: it may well be running.
  const ns = pidNamespace();
  if (p.pidNs !== undefined && ns !== undefined && p.pidNs !== ns) return true;
  const now = procStat(p.pid);
  if (now === 'unknown') return true;
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z' && now.state !== 'X';
}

/** The largest record file read: a record names a few devices; anything bigger is not one of ours. */
export const MAX_RECORD_BYTES = 64 * 1024;

/**
 * Why the directory at `p` may not hold records a root tool acts on, or undefined when it
 * may: it must be a real directory (not a symlink), owned by this user, writable by nobody
 * else. `parent`: the state directory above it, which may also be root's and may be
 * world-writable when sticky (/tmp), since then nobody else can rename the intents away.
 */
function unsafeDir(st: fs.Stats, parent: boolean): string | undefined {
  const uid = process.geteuid?.() ?? st.uid;
  if (st.isSymbolicLink() || !st.isDirectory()) return 'is not a directory (a symlink is not followed)';
  if (st.uid !== uid && !(parent && st.uid === 0)) return `is owned by uid ${st.uid}, not by this user (${uid})`;
  if ((st.mode & 0o022) !== 0 && !(parent && (st.mode & 0o1000) !== 0)) return `is writable by other users (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** Reads one record file without following a symlink, only when it is a regular file of this user and not too big. */
function readRecordFile(file: string): IntentRecord | undefined {
  let fd: number;
  try { fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch { return undefined; }
  try {
    const st = fs.fstatSync(fd);
    const uid = process.geteuid?.() ?? st.uid;
    if (!st.isFile() || st.uid !== uid || st.size > MAX_RECORD_BYTES) return undefined;
    const buf = Buffer.alloc(st.size);
    const n = fs.readSync(fd, buf, 0, st.size, 0);
    return JSON.parse(buf.subarray(0, n).toString('utf8')) as IntentRecord;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

const RECORD = /^(\d+)-(\d+)-([A-Za-z0-9]+)\.json$/;
// The claimer's pid namespace inode is in the name too: a live recoverer of another namespace keeps its claim.
const CLAIMED = /^(\d+-\d+-[A-Za-z0-9]+\.json)\.claimed\.(\d+)-(\d+)(?:-(\d+))?$/;

/** The real backend's store: one JSON file per record under `<stateDir>/intents/`. */
export function fileIntentStore(stateDir: string = DEFAULT_STATE_DIR): IntentStore {
  if (typeof stateDir !== 'string' || stateDir.length === 0 || stateDir.includes('\0')) throw new DmArgumentError('stateDir', 'a directory path', describeValue(stateDir));
  const dir = path.join(stateDir, 'intents');
  let me: ProcessIdentity | undefined;
  const self = (): ProcessIdentity => (me ??= { pid: process.pid, startTime: procStartTime(process.pid) ?? '0', pidNs: pidNamespace() });
  const fail = (e: unknown, syscall: string, p: string): never => {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    const errno = typeof code === 'string' && code in ERRNO ? ERRNO[code as keyof typeof ERRNO] : ERRNO.EIO;
    throw new DmSyscallError(`intent record ${p}: ${String((e as Error).message)}`, { errno, syscall, path: p });
  };
  /**
   * Refuses (EPERM) a state directory other users could plant records in or redirect: root's
   * recover() acts on whatever the records name. Returns false when there is no directory yet.
   */
  const checkDirs = (): boolean => {
    let st: fs.Stats;
    let up: fs.Stats;
    try {
      up = fs.lstatSync(stateDir);
      st = fs.lstatSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      return fail(e, 'lstat', dir);
    }
    const why = unsafeDir(up, true) ? `${stateDir} ${unsafeDir(up, true)!}` : unsafeDir(st, false) ? `${dir} ${unsafeDir(st, false)!}` : undefined;
    if (why) throw new DmSyscallError(`intent records: refusing the state directory: ${why}`, { errno: ERRNO.EPERM, syscall: 'lstat', path: dir });
    return true;
  };
  const atomicWrite = (file: string, record: IntentRecord) => {
    const tmp = path.join(dir, `.${path.basename(file)}.tmp`);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      checkDirs();
      try { fs.unlinkSync(tmp); } catch { /* none left over */ }
      // 'wx': never through a file (or symlink) someone else put under the temporary name.
      fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600, flag: 'wx' });
      fs.renameSync(tmp, file);
    } catch (e) {
      if (e instanceof DmSyscallError) throw e;
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
      if (!checkDirs()) return [];
      let names: string[];
      try { names = fs.readdirSync(dir); } catch { return []; }
      const out: StoredIntent[] = [];
      for (const n of names) {
        const claimed = CLAIMED.exec(n);
        const base = claimed ? claimed[1]! : n;
        if (!RECORD.test(base)) continue;
        // Gone meanwhile, a symlink, not this user's, too big, not JSON: not a record to act on.
        const record = readRecordFile(path.join(dir, n));
        if (record === undefined) continue;
        out.push({ key: claimed ? n : base.slice(0, -'.json'.length), record, ...(claimed ? { claimedBy: { pid: Number(claimed[2]), startTime: claimed[3]!, ...(claimed[4] ? { pidNs: `pid:[${claimed[4]}]` } : {}) } } : {}) });
      }
      return out;
    },
    claim(entry) {
      if (!checkDirs()) return undefined;
      const me = self();
      const from = path.join(dir, entry.claimedBy ? entry.key : `${entry.key}.json`);
      const base = entry.claimedBy ? CLAIMED.exec(entry.key)![1]! : `${entry.key}.json`;
      const ns = /^pid:\[(\d+)\]$/.exec(me.pidNs ?? '')?.[1];
      const to = `${base}.claimed.${me.pid}-${me.startTime}${ns ? `-${ns}` : ''}`;
      try {
        fs.renameSync(from, path.join(dir, to));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // another recoverer took it first
        fail(e, 'rename', from);
      }
      // What was listed may be stale (another recoverer may have done part and given the rest back): act on what was claimed.
      const record = readRecordFile(path.join(dir, to));
      if (record === undefined) {
        try { fs.renameSync(path.join(dir, to), path.join(dir, base)); } catch { /* left claimed: a later recovery finds it */ }
        return undefined;
      }
      return { key: to, record, claimedBy: me };
    },
    unclaim(entry, record) {
      atomicWrite(path.join(dir, CLAIMED.exec(entry.key)?.[1] ?? `${entry.key}.json`), record);
      unlink(path.join(dir, entry.key));
    },
    removeClaimed: (entry) => unlink(path.join(dir, entry.key)),
  };
}

const isInt = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max && !v.includes('\0');

function deviceProblem(d: unknown, where: string): string | undefined {
  if (d === null || typeof d !== 'object') return `${where}: not a device`;
  const { name, uuid, dev } = d as Record<string, unknown>;
  // A device-mapper name never holds '/' (nor is '.' or '..'): a path here is not a device the library named.
  if (!isText(name, 127) || name.includes('/') || name === '.' || name === '..') return `${where}: name ${describeValue(name)} is not a device-mapper name`;
  if (uuid !== null && !isText(uuid, 128)) return `${where}: uuid ${describeValue(uuid)} is not a device-mapper uuid`;
  if (dev !== undefined) {
    const { major, minor } = (dev ?? {}) as Record<string, unknown>;
    if (!isInt(major, 0xfff) || !isInt(minor, 0xfffff)) return `${where}: dev ${describeValue(dev)} is not a device number`;
  }
  return undefined;
}

function effectProblem(e: unknown, i: number): string | undefined {
  const at = `effect ${i}`;
  if (e === null || typeof e !== 'object') return `${at}: not an object`;
  const x = e as Record<string, unknown>;
  switch (x.kind) {
    case 'suspended': case 'loaded': case 'created': case 'temporary':
      return deviceProblem(x.device, `${at} (${x.kind})`);
    case 'thin-id':
      if (!isInt(x.id, 0xffffff)) return `${at} (thin-id): id ${describeValue(x.id)} is not a thin id`;
      if (x.phase !== 'sending' && x.phase !== 'created' && x.phase !== 'deleting') return `${at} (thin-id): phase ${describeValue(x.phase)}`;
      if (typeof x.absentBefore !== 'boolean') return `${at} (thin-id): absentBefore ${describeValue(x.absentBefore)}`;
      return deviceProblem(x.pool, `${at} (thin-id pool)`);
    case 'removing': {
      const devices: unknown = x.devices;
      if (!Array.isArray(devices) || devices.length > 4096) return `${at} (removing): devices is not a list`;
      if (!Array.isArray(x.removed) || !x.removed.every((n) => isInt(n, devices.length))) return `${at} (removing): removed is not a list of indexes`;
      for (const [j, d] of devices.entries()) { const p = deviceProblem(d, `${at} (removing ${j})`); if (p) return p; }
      return undefined;
    }
    case 'cookie': {
      if (!isInt(x.cookie, 0xffffffff) || (x.cookie >>> 16) !== 0x0d4d) return `${at} (cookie): ${describeValue(x.cookie)} is not a cookie`;
      const time = (v: unknown) => v === undefined || isInt(v, 0xffffffffff);
      if (!time(x.ctimeS) || !time(x.notBeforeS)) return `${at} (cookie): times are not seconds`;
      // Made (an id), or about to be (a time to compare the set's with): one or the other.
      if (x.semid !== undefined) return isInt(x.semid, 0x7fffffff) ? undefined : `${at} (cookie): semid ${describeValue(x.semid)} is not a semaphore id`;
      return x.notBeforeS !== undefined ? undefined : `${at} (cookie): neither a semaphore id nor a time`;
    }
    default:
      return `${at}: kind ${describeValue(x.kind)} is not one this version knows`;
  }
}

/**
 * Why `r` is not a record recovery may act on (wrong shape, absurd numbers, a path where a
 * device name belongs), or undefined when it is one. Records are read from a directory: a
 * corrupt or planted one is reported and left, never half-acted on.
 */
export function intentRecordProblem(r: unknown): string | undefined {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'not an object';
  const x = r as Record<string, unknown>;
  if (x.version !== 1) return `version ${describeValue(x.version)} is not 1`;
  if (!isText(x.op, 64)) return `op ${describeValue(x.op)}`;
  if (!isInt(x.pid, 0x3fffffff) || x.pid === 0) return `pid ${describeValue(x.pid)} is not a process id`;
  if (typeof x.startTime !== 'string' || !/^\d{1,20}$/.test(x.startTime)) return `startTime ${describeValue(x.startTime)}`;
  if (x.pidNs !== undefined && (typeof x.pidNs !== 'string' || !/^pid:\[\d{1,20}\]$/.test(x.pidNs))) return `pidNs ${describeValue(x.pidNs)}`;
  if (typeof x.startedAtMs !== 'number' || !Number.isFinite(x.startedAtMs)) return `startedAtMs ${describeValue(x.startedAtMs)}`;
  if (x.notes !== undefined && (!Array.isArray(x.notes) || !x.notes.every((n) => typeof n === 'string'))) return 'notes is not a list of text';
  if (!Array.isArray(x.effects) || x.effects.length > 4096) return 'effects is not a list';
  for (const [i, e] of x.effects.entries()) { const p = effectProblem(e, i); if (p) return p; }
  return undefined;
}

/** A record key for this process: unique per process and operation. */
export function intentKey(p: ProcessIdentity, seq: number): string {
  return `${p.pid}-${p.startTime}-${seq.toString(36)}${Math.floor(Math.random() * 0x100000).toString(36)}`;
}
