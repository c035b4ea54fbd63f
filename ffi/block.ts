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
/** LOOP_SET_CAPACITY: the loop device re-reads its backing file's size. */
export const LOOP_SET_CAPACITY = 0x4c07;

export const LO_FLAGS_READ_ONLY = 1;
export const LO_FLAGS_AUTOCLEAR = 4;
export const LO_FLAGS_PARTSCAN = 8;
export const LO_FLAGS_DIRECT_IO = 16;

const LO_NAME_SIZE = 64;
/** sizeof(struct loop_info64). */
export const LOOP_INFO64_SIZE = 232;
/** sizeof(struct loop_config): u32 fd, u32 block_size, loop_info64 info, u64 __reserved[8]. */
export const LOOP_CONFIG_SIZE = 304;

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** What a loop device is set up with (struct loop_info64, the fields callers set). */
export interface LoopInfo {
  /** Byte offset into the backing file. */
  readonly offset?: bigint;
  /** Bytes of the backing file to use (0 = to its end). */
  readonly sizeLimit?: bigint;
  /** LO_FLAGS_* bits. */
  readonly flags?: number;
  /** lo_file_name (at most 63 bytes are kept, as the kernel does). */
  readonly fileName?: string;
}

/** struct loop_info64 as the kernel reports it. */
export interface LoopStatus {
  readonly device: bigint;
  readonly inode: bigint;
  readonly rdevice: bigint;
  readonly offset: bigint;
  readonly sizeLimit: bigint;
  readonly number: number;
  readonly flags: number;
  readonly fileName: string;
}

/** Encodes struct loop_info64 into `buf` at `at`. */
export function encodeLoopInfo(buf: Uint8Array, at: number, info: LoopInfo): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setBigUint64(at + 24, info.offset ?? 0n, LE);     // lo_offset
  v.setBigUint64(at + 32, info.sizeLimit ?? 0n, LE);  // lo_sizelimit
  v.setUint32(at + 52, info.flags ?? 0, LE);          // lo_flags
  if (info.fileName) {
    const name = new TextEncoder().encode(info.fileName).subarray(0, LO_NAME_SIZE - 1);
    buf.set(name, at + 56);                           // lo_file_name[64]
  }
}

export function decodeLoopInfo(buf: Uint8Array, at = 0): LoopStatus {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let end = at + 56;
  while (end < at + 56 + LO_NAME_SIZE && buf[end] !== 0) end++;
  return {
    device: v.getBigUint64(at, LE),
    inode: v.getBigUint64(at + 8, LE),
    rdevice: v.getBigUint64(at + 16, LE),
    offset: v.getBigUint64(at + 24, LE),
    sizeLimit: v.getBigUint64(at + 32, LE),
    number: v.getUint32(at + 40, LE),
    flags: v.getUint32(at + 52, LE),
    fileName: new TextDecoder().decode(buf.subarray(at + 56, end)),
  };
}

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
export async function loopConfigure(loopPath: string, file: string, info: LoopInfo & { blockSize?: number }): Promise<void> {
  const libc = await loadLibc();
  const ro = ((info.flags ?? 0) & LO_FLAGS_READ_ONLY) !== 0;
  const mode = ro ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
  const fileFd = openOrThrow(file, mode, 'open the backing file');
  try {
    withFd(loopPath, mode, 'open the loop device', (loopFd) => {
      const cfg = new Uint8Array(LOOP_CONFIG_SIZE);
      const v = new DataView(cfg.buffer);
      v.setUint32(0, fileFd, LE);
      v.setUint32(4, info.blockSize ?? 0, LE);
      encodeLoopInfo(cfg, 8, info);
      const r = libc.ioctl(loopFd, LOOP_CONFIGURE, cfg);
      if (r.ret === 0) return;
      if (r.errno !== ERRNO.EINVAL && r.errno !== ERRNO.ENOTTY) fail('LOOP_CONFIGURE', 'ioctl', r.errno, loopPath);
      // Old kernel: two steps.
      const s = libc.ioctlInt(loopFd, LOOP_SET_FD, fileFd);
      if (s.ret < 0) fail('LOOP_SET_FD', 'ioctl', s.errno, loopPath);
      const status = new Uint8Array(LOOP_INFO64_SIZE);
      encodeLoopInfo(status, 0, { ...info, flags: (info.flags ?? 0) & ~LO_FLAGS_READ_ONLY });
      const st = libc.ioctl(loopFd, LOOP_SET_STATUS64, status);
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

/** LOOP_GET_STATUS64; ENXIO = nothing is attached. */
export async function loopStatus(loopPath: string): Promise<LoopStatus> {
  const libc = await loadLibc();
  return withFd(loopPath, fs.constants.O_RDONLY, 'LOOP_GET_STATUS64', (fd) => {
    const buf = new Uint8Array(LOOP_INFO64_SIZE);
    const r = libc.ioctl(fd, LOOP_GET_STATUS64, buf);
    if (r.ret < 0) fail('LOOP_GET_STATUS64', 'ioctl', r.errno, loopPath);
    return decodeLoopInfo(buf);
  });
}

/** BLKGETSIZE64: a block device's size in bytes. */
export async function blockDeviceBytes(path: string): Promise<bigint> {
  const libc = await loadLibc();
  return withFd(path, fs.constants.O_RDONLY, 'BLKGETSIZE64', (fd) => {
    const buf = new Uint8Array(8);
    const r = libc.ioctl(fd, BLKGETSIZE64, buf);
    if (r.ret < 0) fail('BLKGETSIZE64', 'ioctl', r.errno, path);
    return new DataView(buf.buffer).getBigUint64(0, LE);
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
    const range = new Uint8Array(16);
    const v = new DataView(range.buffer);
    v.setBigUint64(0, start, LE);
    v.setBigUint64(8, length, LE);
    const r = libc.ioctl(fd, BLKDISCARD, range);
    if (r.ret < 0) fail('BLKDISCARD', 'ioctl', r.errno, path);
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
