/**
 * SysV semaphores (`semget`, `semop`, `semctl`): the primitive of libdevmapper's udev
 * cookies (docs/udev-cookies.md). Each call is one syscall on the calling thread; none of
 * them sleeps (waits use IPC_NOWAIT and are polled by lib/udev/cookies.ts), so they never
 * block the event loop.
 *
 * @module
 */
import { DmSyscallError } from './block.js';
import { ERRNO } from './errors.js';
import { loadLibc, type Libc } from './libc.js';

// <linux/ipc.h>, <linux/sem.h>
export const IPC_CREAT = 0o1000;
export const IPC_EXCL = 0o2000;
export const IPC_NOWAIT = 0o4000;
export const IPC_RMID = 0;
/** `semctl` IPC_STAT: the set's `struct semid_ds` (lib/kernel/syscall-structs.ts decodes it). */
export const IPC_STAT = 2;
/**
 * The smallest buffer `stat` accepts: more than any 64-bit libc's `struct semid_ds` (at most
 * 104 bytes), so a layout lib/ got wrong can misread but never make the kernel write past it.
 */
export const SEMID_DS_BUFFER_BYTES = 128;
/** `semctl` GETPID: the pid of the last process that changed the semaphore (semop or SETVAL). */
export const GETPID = 11;
export const GETVAL = 12;
export const SETVAL = 16;
export const SEM_INFO = 19;
/** `struct seminfo`: ten ints. */
const SEMINFO_SIZE = 40;

/** One semaphore set's calls, each failure a {@link DmSyscallError} except where an errno is returned. */
export interface SemOps {
  /** `semctl(0, 0, SEM_INFO)`: the highest index in use (≥ 0); throws when the kernel has no SysV IPC (ENOSYS). */
  info(): number;
  /** `semget(key, 1, mode | IPC_CREAT | IPC_EXCL)`: a new set of one semaphore; EEXIST when the key is taken. */
  create(key: number, mode: number): number;
  /** `semget(key, 1, 0)`: the existing set of `key` (ENOENT when none, EACCES when not ours). */
  get(key: number): number;
  /**
   * `semop` of one `struct sembuf { 0, delta, flags }`. Returns 0 or the errno (EAGAIN with
   * IPC_NOWAIT when it would sleep, EIDRM/EINVAL when the set went away): callers branch on it.
   */
  op(semid: number, delta: number, flags: number): number;
  /** `semctl(semid, 0, GETVAL)`. */
  getVal(semid: number): number;
  /**
   * `semctl(semid, 0, GETPID)`: `sempid`, the pid of the last process whose semop or SETVAL
   * changed the semaphore (0 when none did). Not its creator: SysV semaphores record no
   * creator pid (`struct ipc64_perm` has the creator's uid and gid only), and once udev's
   * `dmsetup udevcomplete` ran it is that short-lived process's pid.
   */
  lastPid(semid: number): number;
  /**
   * `semctl(semid, 0, IPC_STAT, buf)`: the set's `struct semid_ds` into `buf` (at least
   * `SEMID_DS_BUFFER_BYTES`; its layout is lib/'s, per architecture). Optional: a host
   * without it is judged by its listing's times alone (lib/udev/cookies.ts `semInfo`).
   */
  stat?(semid: number, buf: Uint8Array): void;
  /** `semctl(semid, 0, SETVAL, v)`. */
  setVal(semid: number, value: number): void;
  /** `semctl(semid, 0, IPC_RMID)`. */
  remove(semid: number): void;
}

function fail(syscall: string, errno: number, what: string): never {
  throw new DmSyscallError(`${syscall} ${what}`, { errno, syscall });
}

/** The semaphore calls over a loaded libc (sync). */
export function semOps(libc: Libc): SemOps {
  const sembuf = new Uint8Array(6);
  const view = new DataView(sembuf.buffer);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return {
    info() {
      const r = libc.semctlBuf(0, 0, SEM_INFO, new Uint8Array(SEMINFO_SIZE));
      if (r.ret < 0) fail('semctl', r.errno, 'SEM_INFO');
      return r.ret;
    },
    create(key, mode) {
      const r = libc.semget(key, 1, (mode & 0o777) | IPC_CREAT | IPC_EXCL);
      if (r.ret < 0) fail('semget', r.errno, `key 0x${(key >>> 0).toString(16)}`);
      return r.ret;
    },
    get(key) {
      const r = libc.semget(key, 1, 0);
      if (r.ret < 0) fail('semget', r.errno, `key 0x${(key >>> 0).toString(16)}`);
      return r.ret;
    },
    op(semid, delta, flags) {
      view.setUint16(0, 0, le);
      view.setInt16(2, delta, le);
      view.setInt16(4, flags, le);
      const r = libc.semop(semid, sembuf, 1);
      return r.ret < 0 ? r.errno || ERRNO.EINVAL : 0;
    },
    getVal(semid) {
      const r = libc.semctl(semid, 0, GETVAL, 0);
      if (r.ret < 0) fail('semctl', r.errno, `GETVAL semid ${semid}`);
      return r.ret;
    },
    lastPid(semid) {
      const r = libc.semctl(semid, 0, GETPID, 0);
      if (r.ret < 0) fail('semctl', r.errno, `GETPID semid ${semid}`);
      return r.ret;
    },
    stat(semid, buf) {
      if (buf.length < SEMID_DS_BUFFER_BYTES) throw new RangeError(`semctl IPC_STAT: a buffer of at least ${SEMID_DS_BUFFER_BYTES} bytes, got ${buf.length}`);
      const r = libc.semctlBuf(semid, 0, IPC_STAT, buf);
      if (r.ret < 0) fail('semctl', r.errno, `IPC_STAT semid ${semid}`);
    },
    setVal(semid, value) {
      const r = libc.semctl(semid, 0, SETVAL, value);
      if (r.ret < 0) fail('semctl', r.errno, `SETVAL semid ${semid}`);
    },
    remove(semid) {
      const r = libc.semctl(semid, 0, IPC_RMID, 0);
      if (r.ret < 0) fail('semctl', r.errno, `IPC_RMID semid ${semid}`);
    },
  };
}

/** Loads libc (once per process) and returns its semaphore calls. */
export async function openSemOps(platform: string = process.platform): Promise<SemOps> {
  return semOps(await loadLibc(platform));
}
