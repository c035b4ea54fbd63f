/**
 * Loop devices without losetup: attach a file (`/dev/loop-control` LOOP_CTL_GET_FREE +
 * LOOP_CONFIGURE, or LOOP_SET_FD + LOOP_SET_STATUS64 on kernels before 5.8), detach
 * (LOOP_CLR_FD) and block-device sizes (BLKGETSIZE64).
 *
 * ```ts
 * import { attachLoop, detachLoop } from 'devicemapper';
 * const loop = await attachLoop('/tmp/disk.img');     // { path: '/dev/loop0', major: 7, minor: 0, sectors: 131072n, … }
 * await dm.createDevice({ name: 'lin', table: [{ start: 0, length: loop.sectors, type: 'linear', params: `${loop.path} 0` }] });
 * await detachLoop(loop);                             // detaches now, or at the last close if still open
 * ```
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  blockDeviceBytes, DmSyscallError, loopClear, loopConfigure, loopGetFree, loopSetCapacity, loopStatus, LO_FLAGS_AUTOCLEAR, LO_FLAGS_DIRECT_IO,
  LO_FLAGS_PARTSCAN, LO_FLAGS_READ_ONLY,
} from '../../ffi/block.js';
import { decodeLoopInfo, loopConfigBytes, loopInfoBytes, LOOP_INFO64_SIZE, type LoopInfo, type LoopStatus } from '../kernel/syscall-structs.js';
import { ERRNO } from '../../ffi/errors.js';
import { objectArg, optionsArg, valueArg } from '../client/args.js';

export { DmSyscallError };
export type { LoopStatus };

/** Options of {@link attachLoop}. */
export interface AttachLoopOptions {
  /** Read-only loop device (LO_FLAGS_READ_ONLY); the file is opened read-only. */
  readonly readOnly?: boolean;
  /** Byte offset into the file (default 0). */
  readonly offset?: number | bigint;
  /** Bytes to use from the offset (default: to the end of the file). */
  readonly sizeLimit?: number | bigint;
  /** Detach automatically at the last close (LO_FLAGS_AUTOCLEAR). */
  readonly autoclear?: boolean;
  /** Scan the device for partitions (LO_FLAGS_PARTSCAN). */
  readonly partscan?: boolean;
  /** Direct I/O to the backing file (LO_FLAGS_DIRECT_IO). */
  readonly directIo?: boolean;
  /** Logical block size (512, 1024, 2048, 4096; LOOP_CONFIGURE only). */
  readonly blockSize?: number;
  /** Attempts when another process takes the free device first (default 16). */
  readonly retries?: number;
}

/** An attached loop device. */
export interface LoopDevice {
  /** `/dev/loopN`. */
  readonly path: string;
  /** N of `/dev/loopN`. */
  readonly number: number;
  /** Major number (7). */
  readonly major: number;
  /** Minor number. */
  readonly minor: number;
  /** The backing file, resolved to an absolute path. */
  readonly file: string;
  /** Size in 512-byte sectors (BLKGETSIZE64 / 512). */
  readonly sectors: bigint;
}

/**
 * glibc's gnu_dev_major()/gnu_dev_minor() of a stat rdev (the inverse of ffi/block.ts's
 * makedev): major = bits 8–19 and 32–43, minor = bits 0–7 and 20–31. The package's one
 * dev_t split (node resolver, loop devices, the recorder). Pass `stat(…, { bigint: true })`'s
 * rdev: a number rdev above 2^53 has already lost bits.
 */
export function splitRdev(rdev: number | bigint): {
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
} {
  valueArg(rdev, 'rdev', 'u64');
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

async function waitForNode(p: string): Promise<void> {
  // devtmpfs creates /dev/loopN when LOOP_CTL_GET_FREE adds it; allow it a moment.
  for (let i = 0; i < 100; i++) {
    if (fs.existsSync(p)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Attaches `file` to a free loop device and returns it. Races with other processes
 * taking the same free device (EBUSY) are retried on the next free one.
 */
export async function attachLoop(file: string, options: AttachLoopOptions = {}): Promise<LoopDevice> {
  valueArg(file, 'file', 'string');
  optionsArg(options, 'options', {
    readOnly: 'boolean', offset: 'u64', sizeLimit: 'u64', autoclear: 'boolean', partscan: 'boolean', directIo: 'boolean', blockSize: 'uint', retries: 'uint',
  });
  const abs = path.resolve(file);
  const flags = (options.readOnly ? LO_FLAGS_READ_ONLY : 0) | (options.autoclear ? LO_FLAGS_AUTOCLEAR : 0)
    | (options.partscan ? LO_FLAGS_PARTSCAN : 0) | (options.directIo ? LO_FLAGS_DIRECT_IO : 0);
  const retries = options.retries ?? 16;
  for (let attempt = 1; ; attempt++) {
    const n = await loopGetFree();
    const p = `/dev/loop${n}`;
    await waitForNode(p);
    try {
      const info: LoopInfo = { flags, fileName: abs, offset: BigInt(options.offset ?? 0), sizeLimit: BigInt(options.sizeLimit ?? 0) };
      await loopConfigure(p, abs, options.readOnly === true, (fileFd) => ({
        config: loopConfigBytes(fileFd, options.blockSize ?? 0, info),
        // LOOP_SET_STATUS64 cannot change read-only (the fd's mode decides): the flag is left out.
        status64: loopInfoBytes({ ...info, flags: flags & ~LO_FLAGS_READ_ONLY }),
      }));
    } catch (e) {
      if (e instanceof DmSyscallError && e.errno === ERRNO.EBUSY && attempt < retries) continue;
      throw e;
    }
    const { major, minor } = splitRdev(fs.statSync(p).rdev);
    const bytes = await blockDeviceBytes(p);
    return { path: p, number: n, major, minor, file: abs, sectors: bytes / 512n };
  }
}

/**
 * Detaches a loop device (LOOP_CLR_FD). A device still open (e.g. by a dm table) is
 * detached by the kernel at its last close. ENXIO (nothing attached) is not an error.
 */
export async function detachLoop(device: LoopDevice | string): Promise<void> {
  const p = loopPath(device);
  try {
    await loopClear(p);
  } catch (e) {
    if (e instanceof DmSyscallError && e.errno === ERRNO.ENXIO) return;
    throw e;
  }
}

/** LOOP_GET_STATUS64 of a loop device, or undefined when nothing is attached. */
export async function loopInfo(device: LoopDevice | string): Promise<LoopStatus | undefined> {
  const p = loopPath(device);
  try {
    return decodeLoopInfo(await loopStatus(p, LOOP_INFO64_SIZE));
  } catch (e) {
    if (e instanceof DmSyscallError && e.errno === ERRNO.ENXIO) return undefined;
    throw e;
  }
}

/** A block device's size in bytes (BLKGETSIZE64). */
export async function blockDeviceSize(device: string): Promise<bigint> {
  valueArg(device, 'device', 'string');
  return blockDeviceBytes(device);
}

/** A block device's size in 512-byte sectors (what `blockdev --getsz` prints). */
export async function blockDeviceSectors(device: string): Promise<bigint> {
  valueArg(device, 'device', 'string');
  return (await blockDeviceBytes(device)) / 512n;
}

/** A loop device argument: its path, or a LoopDevice (its `path`). */
function loopPath(device: unknown): string {
  if (typeof device === 'string') return device;
  const p = objectArg(device, 'device', 'a path string or a LoopDevice').path;
  valueArg(p, 'device.path', 'string');
  return p as string;
}

/**
 * Grows a loop device to its backing file's new size (LOOP_SET_CAPACITY), after the file
 * was extended; returns the new size in sectors.
 */
export async function refreshLoopCapacity(device: LoopDevice | string): Promise<bigint> {
  const p = loopPath(device);
  await loopSetCapacity(p);
  return (await blockDeviceBytes(p)) / 512n;
}
