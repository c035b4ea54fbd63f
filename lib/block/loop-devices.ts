/**
 * Loop devices without losetup: attach a file (`/dev/loop-control` LOOP_CTL_GET_FREE +
 * LOOP_CONFIGURE, or LOOP_SET_FD + LOOP_SET_STATUS64 on kernels before 5.8), detach
 * (LOOP_CLR_FD) and block-device sizes (BLKGETSIZE64).
 *
 * Every function reaches the host's loop devices, or, given a client (`{ dm }`), that
 * client's backend's: on the simulator (`devicemapper/testing`) files and loop devices live
 * in its memory and nothing on the host is touched, so code written against these
 * functions runs there unchanged by passing the client it already has.
 *
 * ```ts
 * import { attachLoop } from 'devicemapper';
 * await using loop = await attachLoop('/tmp/disk.img', { dm }); // { path: '/dev/loop0', major: 7, minor: 0, sizeSectors: 131072n, … }
 * await dm.createDevice({ name: 'lin', table: [{ start: 0, length: loop.sizeSectors, type: 'linear', params: `${loop.path} 0` }] });
 * // leaving the scope detaches it (now, or at the last close if still open)
 * ```
 */
import { LO_FLAGS_AUTOCLEAR, LO_FLAGS_DIRECT_IO, LO_FLAGS_PARTSCAN } from '../../ffi/block.js';
import { DmSyscallError, ERRNO } from '../../ffi/errors.js';
import type { DeviceMapper } from '../client/client.js';
import type { LoopStatus } from '../kernel/backend.js';
import { describeValue, objectArg, optionsArg, valueArg } from '../client/args.js';
import { DmOperationError } from '../errors.js';
import { runBlock } from './block-io.js';

export { DmSyscallError };
export type { LoopStatus };

/** What every loop-device and block-device function takes. */
export interface BlockCallOptions {
  /**
   * The client whose backend is reached: its simulated files and loop devices on the
   * simulator, the host's on the real backend. Default: the host's.
   */
  readonly dm?: DeviceMapper;
  /** Stops the call (DmAbortError); a syscall already under way finishes, and an attach that lands late is detached. */
  readonly signal?: AbortSignal;
  /** The call's bound in ms (1…3600000; default none). */
  readonly timeoutMs?: number;
}

/** Options of {@link attachLoop}. */
export interface AttachLoopOptions extends BlockCallOptions {
  /** Read-only loop device (LO_FLAGS_READ_ONLY); the file is opened read-only. */
  readonly readOnly?: boolean;
  /** Where in the file the device starts, in bytes (default 0; a multiple of 512). */
  readonly offsetBytes?: number | bigint;
  /** Bytes used from the offset (default: to the end of the file; a multiple of 512). */
  readonly sizeLimitBytes?: number | bigint;
  /**
   * Detach automatically at the last close (LO_FLAGS_AUTOCLEAR). The attach keeps its fd on
   * the device open until {@link LoopDevice.release} (or disposal): closing it at once would
   * be the last close and detach the device before anything (a dm table) holds it.
   */
  readonly autoclear?: boolean;
  /** Scan the device for partitions (LO_FLAGS_PARTSCAN). */
  readonly partscan?: boolean;
  /** Direct I/O to the backing file (LO_FLAGS_DIRECT_IO). */
  readonly directIo?: boolean;
  /** Logical block size in bytes (512, 1024, 2048, 4096; LOOP_CONFIGURE only). */
  readonly blockSizeBytes?: number;
  /** Attempts when another process takes the free device first (default 16). */
  readonly retries?: number;
}

/**
 * An attached loop device. `await using` detaches it at the end of the scope (through the
 * backend it was attached on); a device already detached is not an error. An autoclear one
 * is only released (its kept fd closed): the kernel detaches it at its last close, and a
 * detach by path could reach another owner's loop that got the same number since.
 */
export interface LoopDevice extends AsyncDisposable {
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
  readonly sizeSectors: bigint;
  /**
   * An autoclear device: closes the fd the attach kept open, so the kernel detaches the
   * device at its last close (at once when nothing else holds it, otherwise when the holder,
   * e.g. a dm table, lets go). Call it once a table holds the device. Without autoclear, or
   * a second time: nothing.
   */
  release(): Promise<void>;
}

const CALL = { dm: 'object', signal: 'signal', timeoutMs: 'any' } as const;

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

function sectorAligned(v: unknown, field: string): bigint {
  if (v === undefined) return 0n;
  if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) {
    throw new DmOperationError('INVALID_INPUT', `${field} must be an integer (number or bigint), got ${describeValue(v)}`);
  }
  const b = BigInt(v);
  if (b < 0n || b % 512n !== 0n || b >= 1n << 63n) throw new DmOperationError('INVALID_INPUT', `${field} must be a non-negative multiple of 512 below 2^63, got ${b}`);
  return b;
}

const ENXIO_GONE = (e: unknown) => e instanceof DmSyscallError && e.errno === ERRNO.ENXIO;

/**
 * Attaches `file` to a free loop device and returns it. Races with other processes
 * taking the same free device (EBUSY) are retried on the next free one. With `{ dm }`
 * the file and the loop device are the client's backend's (the simulator's memory).
 */
export async function attachLoop(file: string, options: AttachLoopOptions = {}): Promise<LoopDevice> {
  valueArg(file, 'file', 'string');
  optionsArg(options, 'options', {
    ...CALL, readOnly: 'boolean', offsetBytes: 'any', sizeLimitBytes: 'any', autoclear: 'boolean', partscan: 'boolean', directIo: 'boolean', blockSizeBytes: 'uint', retries: 'uint',
  });
  const offsetBytes = sectorAligned(options.offsetBytes, 'offsetBytes');
  const sizeLimitBytes = sectorAligned(options.sizeLimitBytes, 'sizeLimitBytes');
  const flags = (options.autoclear ? LO_FLAGS_AUTOCLEAR : 0) | (options.partscan ? LO_FLAGS_PARTSCAN : 0) | (options.directIo ? LO_FLAGS_DIRECT_IO : 0);
  // An autoclear loop is detached at its last close, so the attach's fd stays open until
  // release(): closed at once it would be the last close (docs/udev.md, "Loop devices").
  const keepOpen = options.autoclear === true;
  const request = { readOnly: options.readOnly === true, flags, offsetBytes, sizeLimitBytes, blockSizeBytes: options.blockSizeBytes ?? 0, retries: options.retries ?? 16, keepOpen };
  return runBlock(options.dm, 'attachLoop', options, async (op, io) => {
    const a = await op.step(`attaching ${file}`, () => io.attachLoop(file, request), {
      // A kept fd's close is the undo: the kernel detaches the autoclear loop at that last close.
      onLate: (late) => { void (late.release ? late.release() : io.detachLoop(late.path)).catch(() => {}); },
    });
    const release = async (): Promise<void> => { await a.release?.(); };
    // An autoclear loop with its fd kept is detached by the kernel at its last close, and
    // LOOP_CLR_FD of one still held (a table) would only set autoclear: disposal is the
    // release alone. A detach by path after it could reach another owner's loop: once the
    // kernel has detached ours, the next attach anywhere gets the same /dev/loopN.
    const detach = a.release
      ? release
      : async (): Promise<void> => { await io.detachLoop(a.path).catch((e: unknown) => { if (!ENXIO_GONE(e)) throw e; }); };
    return {
      path: a.path, number: a.number, major: a.major, minor: a.minor, file: a.file, sizeSectors: a.sizeBytes / 512n,
      release, [Symbol.asyncDispose]: detach,
    };
  });
}

/**
 * Detaches a loop device (LOOP_CLR_FD). A device still open (e.g. by a dm table) is
 * detached by the kernel at its last close. ENXIO (nothing attached) is not an error.
 */
export async function detachLoop(device: LoopDevice | string, options: BlockCallOptions = {}): Promise<void> {
  const p = loopPath(device);
  optionsArg(options, 'options', CALL);
  await runBlock(options.dm, 'detachLoop', options, (op, io) => op.step(`detaching ${p}`, async () => {
    try {
      await io.detachLoop(p);
    } catch (e) {
      if (!ENXIO_GONE(e)) throw e;
    }
  }));
}

/** LOOP_GET_STATUS64 of a loop device, or undefined when nothing is attached. */
export async function loopInfo(device: LoopDevice | string, options: BlockCallOptions = {}): Promise<LoopStatus | undefined> {
  const p = loopPath(device);
  optionsArg(options, 'options', CALL);
  return runBlock(options.dm, 'loopInfo', options, (op, io) => op.step(`status of ${p}`, () => io.loopStatus(p)));
}

/** A block device's size in bytes (BLKGETSIZE64). */
export async function blockDeviceBytes(device: string, options: BlockCallOptions = {}): Promise<bigint> {
  valueArg(device, 'device', 'string');
  optionsArg(options, 'options', CALL);
  return runBlock(options.dm, 'blockDeviceBytes', options, (op, io) => op.step(`size of ${device}`, () => io.sizeBytes(device)));
}

/** A block device's size in 512-byte sectors (what `blockdev --getsz` prints). */
export async function blockDeviceSectors(device: string, options: BlockCallOptions = {}): Promise<bigint> {
  return (await blockDeviceBytes(device, options)) / 512n;
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
 * was extended; returns the new size in 512-byte sectors.
 */
export async function refreshLoopCapacity(device: LoopDevice | string, options: BlockCallOptions = {}): Promise<bigint> {
  const p = loopPath(device);
  optionsArg(options, 'options', CALL);
  return runBlock(options.dm, 'refreshLoopCapacity', options, async (op, io) => {
    await op.step(`refreshing ${p}`, () => io.refreshLoop(p));
    return (await op.step(`size of ${p}`, () => io.sizeBytes(p))) / 512n;
  });
}
