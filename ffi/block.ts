/**
 * Block-device and loop-device system calls: the loop driver's ioctls
 * (`LOOP_CTL_GET_FREE`, `LOOP_CONFIGURE`, the `LOOP_SET_FD` + `LOOP_SET_STATUS64`
 * fallback, `LOOP_CLR_FD`, `LOOP_GET_STATUS64`), `BLKGETSIZE64`, and `mknod` for
 * block nodes. Small and boring: each function is one syscall sequence with typed
 * errors ({@link DmSyscallError}); policy (retries, node layout, udev) lives in lib/.
 *
 * Files are opened with Node's fs (real fds), the ioctls go through koffi.
 *
 * @module
 */
import * as fs from 'node:fs';
import { loadLibc, type Libc } from './libc.js';
import { DmSyscallError, ERRNO } from './errors.js';

export { DmSyscallError } from './errors.js';

// <linux/loop.h>
export const LOOP_SET_FD = 0x4c00;
export const LOOP_CLR_FD = 0x4c01;
export const LOOP_SET_STATUS64 = 0x4c04;
export const LOOP_GET_STATUS64 = 0x4c05;
export const LOOP_CONFIGURE = 0x4c0a;
export const LOOP_CTL_GET_FREE = 0x4c82;
/** _IOR(0x12, 114, size_t) on 64-bit ABIs. */
export const BLKGETSIZE64 = 0x80081272;
/** _IO(0x12, 119): discard a byte range; the argument is `uint64_t range[2]` = { start, length }. */
export const BLKDISCARD = 0x1277;
/** `_IO(0x12, 97)`: write back and drop a block device's page cache. */
export const BLKFLSBUF = 0x1261;
/** LOOP_SET_CAPACITY: the loop device re-reads its backing file's size. */
export const LOOP_SET_CAPACITY = 0x4c07;

export const LO_FLAGS_READ_ONLY = 1;
export const LO_FLAGS_AUTOCLEAR = 4;
export const LO_FLAGS_PARTSCAN = 8;
export const LO_FLAGS_DIRECT_IO = 16;

function fail(what: string, syscall: string, errno: number, path?: string): never {
  throw new DmSyscallError(what, { errno, syscall, ...(path === undefined ? {} : { path }) });
}

function openOrThrow(path: string, flags: number, what: string): number {
  try {
    return fs.openSync(path, flags);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const errno = code && Object.hasOwn(ERRNO, code) ? ERRNO[code as keyof typeof ERRNO] : Math.abs((e as NodeJS.ErrnoException).errno ?? 0);
    return fail(what, 'open', errno, path);
  }
}

function withFd<T>(path: string, flags: number, what: string, f: (fd: number) => T): T {
  const fd = openOrThrow(path, flags, what);
  try {
    return f(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** LOOP_CTL_GET_FREE on /dev/loop-control: the number of a free loop device (created if needed). */
export async function loopGetFree(control = '/dev/loop-control'): Promise<number> {
  const libc = await loadLibc();
  return withFd(control, fs.constants.O_RDWR, 'LOOP_CTL_GET_FREE', (fd) => {
    const r = libc.ioctlInt(fd, LOOP_CTL_GET_FREE, 0);
    if (r.ret < 0) fail('LOOP_CTL_GET_FREE', 'ioctl', r.errno, control);
    return r.ret;
  });
}

/**
 * Binds `file` to the loop device `loopPath`: LOOP_CONFIGURE (Linux 5.8+) in one call;
 * on kernels without it (EINVAL/ENOTTY) LOOP_SET_FD then LOOP_SET_STATUS64, undone
 * with LOOP_CLR_FD if the second step fails. EBUSY means another process took the
 * device first: the caller picks another free one.
 */
export async function loopConfigure(
  loopPath: string,
  file: string,
  readOnly: boolean,
  /** The structs, encoded by the caller (lib/) once the backing file's fd is known. */
  structs: (fileFd: number) => { readonly config: Uint8Array; readonly status64: Uint8Array },
): Promise<void> {
  const libc = await loadLibc();
  const mode = readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
  const fileFd = openOrThrow(file, mode, 'open the backing file');
  try {
    withFd(loopPath, mode, 'open the loop device', (loopFd) => {
      const { config, status64 } = structs(fileFd);
      const r = libc.ioctl(loopFd, LOOP_CONFIGURE, config);
      if (r.ret === 0) return;
      if (r.errno !== ERRNO.EINVAL && r.errno !== ERRNO.ENOTTY) fail('LOOP_CONFIGURE', 'ioctl', r.errno, loopPath);
      // Old kernel: two steps.
      const s = libc.ioctlInt(loopFd, LOOP_SET_FD, fileFd);
      if (s.ret < 0) fail('LOOP_SET_FD', 'ioctl', s.errno, loopPath);
      const st = libc.ioctl(loopFd, LOOP_SET_STATUS64, status64);
      if (st.ret < 0) {
        libc.ioctlInt(loopFd, LOOP_CLR_FD, 0);
        fail('LOOP_SET_STATUS64', 'ioctl', st.errno, loopPath);
      }
    });
  } finally {
    fs.closeSync(fileFd);
  }
}

/** LOOP_CLR_FD. On a device still open elsewhere the kernel sets autoclear and detaches at the last close. */
export async function loopClear(loopPath: string): Promise<void> {
  const libc = await loadLibc();
  withFd(loopPath, fs.constants.O_RDONLY, 'LOOP_CLR_FD', (fd) => {
    const r = libc.ioctlInt(fd, LOOP_CLR_FD, 0);
    if (r.ret < 0) fail('LOOP_CLR_FD', 'ioctl', r.errno, loopPath);
  });
}

/** LOOP_GET_STATUS64 into a struct loop_info64 of `size` bytes (the caller decodes it); ENXIO = nothing is attached. */
export async function loopStatus(loopPath: string, size: number): Promise<Uint8Array> {
  const libc = await loadLibc();
  return withFd(loopPath, fs.constants.O_RDONLY, 'LOOP_GET_STATUS64', (fd) => {
    const buf = new Uint8Array(size);
    const r = libc.ioctl(fd, LOOP_GET_STATUS64, buf);
    if (r.ret < 0) fail('LOOP_GET_STATUS64', 'ioctl', r.errno, loopPath);
    return buf;
  });
}

/** BLKGETSIZE64: a block device's size in bytes. */
export async function blockDeviceBytes(path: string): Promise<bigint> {
  const libc = await loadLibc();
  return withFd(path, fs.constants.O_RDONLY, 'BLKGETSIZE64', (fd) => {
    // A u64 in host order: a BigUint64Array is host order by definition (no endianness probe).
    const size = new BigUint64Array(1);
    const r = libc.ioctl(fd, BLKGETSIZE64, new Uint8Array(size.buffer));
    if (r.ret < 0) fail('BLKGETSIZE64', 'ioctl', r.errno, path);
    return size[0]!;
  });
}

/**
 * BLKDISCARD: tells the device that the bytes [start, start + length) are unused (a thin
 * device unmaps them, a loop device punches a hole). The kernel wants both 512-aligned
 * (EINVAL otherwise); the caller validates. Opened O_WRONLY: the ioctl needs write access.
 */
export async function blockDiscard(path: string, start: bigint, length: bigint): Promise<void> {
  const libc = await loadLibc();
  withFd(path, fs.constants.O_WRONLY, 'BLKDISCARD', (fd) => {
    const range = new BigUint64Array([start, length]); // uint64_t range[2], host order
    const r = libc.ioctl(fd, BLKDISCARD, new Uint8Array(range.buffer));
    if (r.ret < 0) fail('BLKDISCARD', 'ioctl', r.errno, path);
  });
}

/**
 * BLKFLSBUF: writes back and drops the page cache of the block device at `path`, so the next
 * reads come from the device. What the kernel writes past the page cache (dm-bufio: a thin
 * pool's metadata) is then seen (docs/thin-metadata.md, "Reading a live metadata device").
 * Needs CAP_SYS_ADMIN (EACCES otherwise).
 */
export async function blockFlushBuffers(path: string): Promise<void> {
  const libc = await loadLibc();
  withFd(path, fs.constants.O_RDONLY, 'BLKFLSBUF', (fd) => {
    const r = libc.ioctlInt(fd, BLKFLSBUF, 0);
    if (r.ret < 0) fail('BLKFLSBUF', 'ioctl', r.errno, path);
  });
}

/** LOOP_SET_CAPACITY: after the backing file grew, the loop device takes its new size. */
export async function loopSetCapacity(loopPath: string): Promise<void> {
  const libc = await loadLibc();
  withFd(loopPath, fs.constants.O_RDONLY, 'LOOP_SET_CAPACITY', (fd) => {
    const r = libc.ioctlInt(fd, LOOP_SET_CAPACITY, 0);
    if (r.ret < 0) fail('LOOP_SET_CAPACITY', 'ioctl', r.errno, loopPath);
  });
}

/** glibc's makedev(): the dev_t mknod(2) takes. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** S_IFBLK. */
export const S_IFBLK = 0o060000;

/** mknod(path, S_IFBLK | mode, makedev(major, minor)). EEXIST is reported, not ignored: the caller decides. */
export async function mknodBlock(path: string, major: number, minor: number, mode = 0o600): Promise<void> {
  const libc: Libc = await loadLibc();
  const r = libc.mknod(path, S_IFBLK | (mode & 0o7777), makedev(major, minor));
  if (r.ret < 0) fail('mknod', 'mknod', r.errno, path);
}
