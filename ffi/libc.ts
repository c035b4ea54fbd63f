/**
 * The C library, bound through koffi. This is the only file that imports koffi.
 *
 * koffi is loaded lazily with a dynamic `import()` so that merely importing this
 * package never loads native code (and works on platforms koffi has no binary
 * for, until device-mapper is actually used). Tests run through a CommonJS
 * transform, so no `import.meta` here.
 *
 * All functions return `{ ret, errno }` instead of throwing: the callers map
 * errno values to typed errors with knowledge of what the call meant.
 *
 * @module
 */
import type { IoctlResult } from './types.js';
import { DmLibcError, DmPlatformError } from './errors.js';

/** Raw libc calls. `buf` arguments are passed to C in place (no copy). */
export interface Libc {
  ioctl(fd: number, request: number, buf: Uint8Array): IoctlResult;
  ioctlAsync(fd: number, request: number, buf: Uint8Array): Promise<IoctlResult>;
  /** `poll(2)` on a packed `struct pollfd[]` (8 bytes each: i32 fd, i16 events, i16 revents). */
  poll(pollfds: Uint8Array, nfds: number, timeoutMs: number): IoctlResult;
  pollAsync(pollfds: Uint8Array, nfds: number, timeoutMs: number): Promise<IoctlResult>;
  /** `pipe2(2)`; on success `fds` holds [read end, write end]. */
  pipe2(flags: number): IoctlResult & { fds: [number, number] };
  close(fd: number): IoctlResult;
  read(fd: number, buf: Uint8Array): IoctlResult;
  write(fd: number, buf: Uint8Array): IoctlResult;
  /** `ioctl(fd, request, arg)` with an integer argument (LOOP_SET_FD, LOOP_CLR_FD, LOOP_CTL_GET_FREE). */
  ioctlInt(fd: number, request: number, arg: number): IoctlResult;
  /** `mknod(2)`; `dev` is the glibc dev_t (`makedev`). Falls back to `__xmknod` on glibc < 2.33. */
  mknod(path: string, mode: number, dev: bigint): IoctlResult;
  /** `semget(2)`: the SysV semaphore set of `key` (udev cookies, docs/udev-cookies.md). */
  semget(key: number, nsems: number, flags: number): IoctlResult;
  /** `semop(2)` on packed `struct sembuf[]` (6 bytes each: u16 sem_num, i16 sem_op, i16 sem_flg). */
  semop(semid: number, sops: Uint8Array, nsops: number): IoctlResult;
  /** `semctl(2)` with an integer 4th argument (GETVAL, SETVAL's `union semun.val`, IPC_RMID). */
  semctl(semid: number, semnum: number, cmd: number, arg: number): IoctlResult;
  /** `semctl(2)` with a buffer as the 4th argument (SEM_INFO's `struct seminfo`). */
  semctlBuf(semid: number, semnum: number, cmd: number, buf: Uint8Array): IoctlResult;
  /**
   * `syscall(2)` with five integer-or-pointer arguments after the number, for the kernel
   * keyring calls glibc has no wrapper for (ffi/keyring.ts: `add_key`, `keyctl`). Strings and
   * payloads are passed as NUL-terminated or raw bytes in place.
   */
  syscall5(nr: number, a: number | Uint8Array | null, b: number | Uint8Array | null, c: number | Uint8Array | null, d: number, e: number): IoctlResult;
  /** The library name that was loaded (`libc.so.6`, ...). */
  readonly name: string;
}

// koffi's own module type, without a static import (which would load it eagerly).
type Koffi = typeof import('koffi');
type KoffiFn = ReturnType<ReturnType<Koffi['load']>['func']>;

/** musl's libc file name per Node arch (Alpine and friends ship these). */
const MUSL_ARCH: Record<string, string[]> = {
  x64: ['x86_64'],
  arm64: ['aarch64'],
  arm: ['armv7', 'armhf'],
  ia32: ['x86'],
  riscv64: ['riscv64'],
  ppc64: ['ppc64le'],
  s390x: ['s390x'],
  loong64: ['loongarch64'],
};

/** Library names to try, most likely first: glibc, then musl, then the dev symlink. */
export function libcCandidates(arch: string = process.arch): string[] {
  return ['libc.so.6', ...(MUSL_ARCH[arch] ?? []).map((a) => `libc.musl-${a}.so.1`), 'libc.so'];
}

let cached: Promise<Libc> | undefined;

/**
 * Loads koffi and libc once per process and binds the calls ffi/ needs.
 * Rejects with {@link DmPlatformError} on anything but Linux, before koffi is
 * touched; with {@link DmLibcError} when koffi or libc cannot be loaded.
 *
 * @param platform injectable for tests; defaults to `process.platform`.
 */
export function loadLibc(platform: string = process.platform): Promise<Libc> {
  if (platform !== 'linux') return Promise.reject(new DmPlatformError(platform));
  // A failed load is not cached, so a later call may retry (e.g. after npm rebuild).
  cached ??= bind().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function bind(): Promise<Libc> {
  let koffi: Koffi;
  try {
    const mod = (await import('koffi')) as Koffi & { default?: Koffi };
    // ESM gives a namespace whose `default` is the module; the CJS interop used by
    // the tests may give the module itself.
    koffi = mod.default ?? mod;
  } catch (err) {
    throw new DmLibcError(`cannot load koffi (the FFI used to call ioctl): ${String(err)}`, err);
  }

  let lib: ReturnType<Koffi['load']> | undefined;
  let name = '';
  const failures: string[] = [];
  for (const candidate of libcCandidates()) {
    try {
      lib = koffi.load(candidate);
      name = candidate;
      break;
    } catch (err) {
      failures.push(`${candidate}: ${String(err)}`);
    }
  }
  if (!lib) throw new DmLibcError(`cannot load the C library (${failures.join('; ')})`);

  // `uint8_t *` + _Inout_: koffi hands C a pointer to the Uint8Array's own memory,
  // so the kernel's reply lands in the caller's buffer with no copy.
  // `unsigned long` request: the dm requests have bit 31 set (0xC138FD00); callers
  // pass them as non-negative numbers (`>>> 0`).
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');
  // struct pollfd[] as packed bytes: avoids defining a koffi struct type, and the
  // same array is reused by the caller across calls.
  const poll = lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
  const pipe2 = lib.func('int pipe2(_Out_ int32_t *fds, int flags)');
  const close = lib.func('int close(int fd)');
  // ssize_t/size_t are long/unsigned long on every LP64 Linux and on ILP32 alike.
  const read = lib.func('long read(int fd, _Out_ uint8_t *buf, unsigned long count)');
  const write = lib.func('long write(int fd, const uint8_t *buf, unsigned long count)');
  // The same ioctl symbol with an integer third argument (loop-device requests take an fd
  // or nothing). ioctl is variadic in C; on every Linux ABI an unsigned long passes alike.
  const ioctlInt = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
  // mknod is a real symbol since glibc 2.33 (and in musl); older glibc only has
  // __xmknod(_MKNOD_VER, path, mode, &dev) with _MKNOD_VER 0 on x86-64.
  let mknod: KoffiFn | undefined;
  let xmknod: KoffiFn | undefined;
  try {
    mknod = lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
  } catch {
    xmknod = lib.func('int __xmknod(int ver, const char *path, uint32_t mode, _In_ uint64_t *dev)');
  }

  // SysV semaphores (udev cookies). semctl is variadic in C; like ioctlInt above, the 4th
  // argument passes as an unsigned long or a pointer alike on every Linux ABI (union semun
  // is one register wide).
  const semget = lib.func('int semget(int key, int nsems, int semflg)');
  const semop = lib.func('int semop(int semid, _Inout_ uint8_t *sops, unsigned long nsops)');
  const semctl = lib.func('semctl', 'int', ['int', 'int', 'int', 'unsigned long']);
  const semctlBuf = lib.func('semctl', 'int', ['int', 'int', 'int', '_Inout_ uint8_t *']);

  // syscall(2) is variadic; like ioctlInt, its arguments pass as register-wide values on every
  // Linux ABI. A pointer argument and an integer one take the same register, so two
  // prototypes cover the keyring calls: pointers in the first three slots, or integers only.
  const syscallPtr = lib.func('syscall', 'long', ['long', '_In_ uint8_t *', '_In_ uint8_t *', '_In_ uint8_t *', 'long', 'long']);
  const syscallInt = lib.func('syscall', 'long', ['long', 'long', 'long', 'long', 'long', 'long']);

  // errno must be read immediately after the call, before any other native code
  // in this thread can overwrite it; only meaningful when the call failed.
  const sync = (fn: KoffiFn, ...args: unknown[]): IoctlResult => {
    const ret = Number(fn(...args));
    return { ret, errno: ret < 0 ? koffi.errno() : 0 };
  };
  // koffi restores the worker thread's errno around the completion callback, so
  // it must be read inside the callback; util.promisify would read it too late.
  const async = (fn: KoffiFn, ...args: unknown[]): Promise<IoctlResult> =>
    new Promise((resolve, reject) => {
      fn.async(...args, (err: unknown, res: unknown) => {
        if (err) {
          reject(err);
          return;
        }
        const ret = Number(res);
        resolve({ ret, errno: ret < 0 ? koffi.errno() : 0 });
      });
    });

  return {
    name,
    ioctl: (fd, request, buf) => sync(ioctl, fd, request >>> 0, buf),
    ioctlAsync: (fd, request, buf) => async(ioctl, fd, request >>> 0, buf),
    poll: (pollfds, nfds, timeoutMs) => sync(poll, pollfds, nfds, timeoutMs | 0),
    pollAsync: (pollfds, nfds, timeoutMs) => async(poll, pollfds, nfds, timeoutMs | 0),
    pipe2: (flags) => {
      const fds = new Int32Array(2);
      const r = sync(pipe2, fds, flags);
      return { ...r, fds: [fds[0] ?? -1, fds[1] ?? -1] };
    },
    close: (fd) => sync(close, fd),
    read: (fd, buf) => sync(read, fd, buf, buf.byteLength),
    write: (fd, buf) => sync(write, fd, buf, buf.byteLength),
    ioctlInt: (fd, request, arg) => sync(ioctlInt, fd, request >>> 0, arg),
    semget: (key, nsems, flags) => sync(semget, key | 0, nsems, flags),
    semop: (semid, sops, nsops) => sync(semop, semid, sops, nsops),
    semctl: (semid, semnum, cmd, arg) => sync(semctl, semid, semnum, cmd, arg >>> 0),
    semctlBuf: (semid, semnum, cmd, buf) => sync(semctlBuf, semid, semnum, cmd, buf),
    syscall5: (nr, a, b, c, d, e) => (typeof a === 'number' && typeof b === 'number' && typeof c === 'number'
      ? sync(syscallInt, nr, a, b, c, d, e)
      : sync(syscallPtr, nr, a, b, c, d, e)),
    mknod: (path, mode, dev) => (mknod ? sync(mknod, path, mode >>> 0, dev) : sync(xmknod!, 0, path, mode >>> 0, new BigUint64Array([dev]))),
  };
}
