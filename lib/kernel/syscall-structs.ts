/**
 * The bytes of the loop driver's, poll(2)'s and semctl(2)'s structs, encoded and decoded with their
 * layouts (codec/syscall-records.ts): ffi/ makes the calls on these bytes and knows no
 * offsets (the dependency rule: ffi imports neither lib nor codec; ARCHITECTURE.md).
 */
import { compile, viewOf, type StructCodec } from '../../codec/layout.js';
import { fiemap, fiemapExtent, loopConfig, loopInfo64, pollfd, semidDsGeneric64, semidDsX86_64, LO_NAME_SIZE } from '../../codec/syscall-records.js';
import type { IoctlResult, RawPoller } from '../../ffi/types.js';

const infoCodec = compile(loopInfo64);
const configCodec = compile(loopConfig);
const pollfdCodec = compile(pollfd);

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

/** sizeof(struct loop_info64). */
export const LOOP_INFO64_SIZE = loopInfo64.size;

/** Encodes struct loop_info64 into `buf` at `at` (every other field zero). */
export function encodeLoopInfo(buf: Uint8Array, at: number, info: LoopInfo): void {
  // The kernel keeps LO_NAME_SIZE-1 bytes of the name: longer names are cut, not refused.
  const name = new TextEncoder().encode(info.fileName ?? '').subarray(0, LO_NAME_SIZE - 1);
  infoCodec.encode(viewOf(buf), buf, at, {
    lo_device: 0n, lo_inode: 0n, lo_rdevice: 0n,
    lo_offset: info.offset ?? 0n, lo_sizelimit: info.sizeLimit ?? 0n,
    lo_number: 0, lo_encrypt_type: 0, lo_encrypt_key_size: 0, lo_flags: info.flags ?? 0,
    lo_file_name: name, lo_crypt_name: '',
    lo_encrypt_key: new Array<number>(loopInfo64.offsetOf.lo_init - loopInfo64.offsetOf.lo_encrypt_key).fill(0),
    lo_init: [0n, 0n],
  });
}

/** A struct loop_info64 of its own (LOOP_SET_STATUS64). */
export function loopInfoBytes(info: LoopInfo): Uint8Array {
  const buf = new Uint8Array(loopInfo64.size);
  encodeLoopInfo(buf, 0, info);
  return buf;
}

export function decodeLoopInfo(buf: Uint8Array, at = 0): LoopStatus {
  const d = infoCodec.decode(viewOf(buf), buf, at);
  return {
    device: d.lo_device, inode: d.lo_inode, rdevice: d.lo_rdevice, offset: d.lo_offset, sizeLimit: d.lo_sizelimit,
    number: d.lo_number, flags: d.lo_flags, fileName: d.lo_file_name,
  };
}

/** struct loop_config for LOOP_CONFIGURE: the backing file's fd, the block size, the info. */
export function loopConfigBytes(fileFd: number, blockSize: number, info: LoopInfo): Uint8Array {
  const buf = new Uint8Array(loopConfig.size);
  configCodec.encode(viewOf(buf), buf, 0, { fd: fileFd, block_size: blockSize, __reserved: new Array<bigint>(8).fill(0n) });
  encodeLoopInfo(buf, loopConfig.offsetOf.info, info);
  return buf;
}

/** One entry of a `poll(2)` set: the descriptor and the events to wait for. */
export interface PollFd {
  fd: number;
  /** Bit mask of POLLIN etc. */
  events: number;
}

/** Outcome of `poll(2)`: `ret` = number of ready entries (0 = timeout, -1 = error). */
export interface PollResult {
  ret: number;
  errno: number;
  /** `revents` for each input entry, in input order (all 0 on timeout or error). */
  revents: number[];
}

/** poll(2) on a set of descriptors: ffi's byte-level poll with struct pollfd from its layout. */
export interface Poller {
  poll(fds: readonly PollFd[], timeoutMs: number): PollResult;
  pollAsync(fds: readonly PollFd[], timeoutMs: number): Promise<PollResult>;
}

export function packPollFds(fds: readonly PollFd[]): Uint8Array {
  const buf = new Uint8Array(fds.length * pollfd.size);
  const view = viewOf(buf);
  fds.forEach((p, i) => pollfdCodec.encode(view, buf, i * pollfd.size, { fd: p.fd, events: p.events, revents: 0 }));
  return buf;
}

export function unpackPollFds(buf: Uint8Array, n: number, r: IoctlResult): PollResult {
  const view = viewOf(buf);
  const revents: number[] = [];
  for (let i = 0; i < n; i++) revents.push(r.ret > 0 ? pollfdCodec.decode(view, buf, i * pollfd.size).revents : 0);
  return { ret: r.ret, errno: r.errno, revents };
}

/** The object-level poller over ffi's byte-level one. */
export function pollerOf(raw: RawPoller): Poller {
  return {
    poll(fds, timeoutMs) {
      const buf = packPollFds(fds);
      return unpackPollFds(buf, fds.length, raw.poll(buf, fds.length, timeoutMs));
    },
    async pollAsync(fds, timeoutMs) {
      const buf = packPollFds(fds);
      return unpackPollFds(buf, fds.length, await raw.pollAsync(buf, fds.length, timeoutMs));
    },
  };
}

/** What semctl(IPC_STAT) tells of a semaphore set (struct semid_ds). */
export interface SemStat {
  /** Its IPC key. */
  readonly key: number;
  /** The uid of the process that created it (`sem_perm.cuid`). */
  readonly cuid: number;
  /** Its owner's uid (`sem_perm.uid`; changed only by IPC_SET). */
  readonly uid: number;
  /** Permission bits (`sem_perm.mode & 0o777`). */
  readonly mode: number;
  /** Last semop time (seconds since the epoch; 0 when none). */
  readonly otime: number;
  /** Creation or last SETVAL/SETALL/IPC_SET time (seconds since the epoch). */
  readonly ctime: number;
  /** Semaphores in the set. */
  readonly nsems: number;
}

/**
 * The layout of `struct semid_ds` for `arch` (a Node `process.arch`), or undefined where this
 * package does not know it (32-bit architectures, whose ipc_perm and times differ).
 */
export function semidDsLayout(arch: string = process.arch): typeof semidDsX86_64 | typeof semidDsGeneric64 | undefined {
  if (arch === 'x64') return semidDsX86_64;
  if (arch === 'arm64' || arch === 'riscv64' || arch === 'ppc64' || arch === 's390x' || arch === 'loong64') return semidDsGeneric64;
  return undefined;
}

let semidDsCodecs: { x86: StructCodec<typeof semidDsX86_64.declared>; generic: StructCodec<typeof semidDsGeneric64.declared> } | undefined;

/** Decodes the bytes IPC_STAT wrote (the layout of `arch`). */
export function decodeSemidDs(buf: Uint8Array, arch: string = process.arch): SemStat {
  const layout = semidDsLayout(arch);
  if (!layout) throw new RangeError(`struct semid_ds: no layout for ${arch}`);
  semidDsCodecs ??= { x86: compile(semidDsX86_64), generic: compile(semidDsGeneric64) };
  const d = layout === semidDsX86_64 ? semidDsCodecs.x86.decode(viewOf(buf), buf, 0) : semidDsCodecs.generic.decode(viewOf(buf), buf, 0);
  return { key: d.key >>> 0, cuid: d.cuid, uid: d.uid, mode: d.mode & 0o777, otime: Number(d.sem_otime), ctime: Number(d.sem_ctime), nsems: Number(d.sem_nsems) };
}

const fiemapCodec = compile(fiemap);
const fiemapExtentCodec = compile(fiemapExtent);

/** sizeof(struct fiemap) and sizeof(struct fiemap_extent). */
export const FIEMAP_SIZE = fiemap.size;
export const FIEMAP_EXTENT_SIZE = fiemapExtent.size;

/** One `struct fiemap_extent` as the filesystem wrote it (byte offsets). */
export interface RawFiemapExtent {
  readonly logicalBytes: bigint;
  readonly physicalBytes: bigint;
  readonly lengthBytes: bigint;
  readonly flags: number;
}

/** A `struct fiemap` after the ioctl: its header and the extents it says it mapped. */
export interface FiemapReply {
  readonly flags: number;
  readonly mappedExtents: number;
  readonly extentCount: number;
  readonly extents: readonly RawFiemapExtent[];
}

/**
 * Encodes a FIEMAP request into `buf` (zeroed first): map from `startBytes` to the end
 * (`fm_length` ~0), with room for as many extents as `buf` holds after the header.
 */
export function encodeFiemapRequest(buf: Uint8Array, startBytes: bigint, flags: number): number {
  buf.fill(0);
  const count = Math.floor((buf.length - fiemap.size) / fiemapExtent.size);
  fiemapCodec.encode(viewOf(buf), buf, 0, {
    fm_start: startBytes, fm_length: (1n << 64n) - 1n, fm_flags: flags, fm_mapped_extents: 0, fm_extent_count: count, fm_reserved: 0,
  });
  return count;
}

/**
 * Decodes a FIEMAP reply. `fm_mapped_extents` is trusted only when it fits both the count
 * asked for and the buffer: otherwise `undefined` with the count read, for the caller's
 * typed error (a hostile or broken filesystem must not make us read past the buffer).
 */
export function decodeFiemapReply(buf: Uint8Array): FiemapReply | { readonly overflow: number; readonly extentCount: number } {
  const v = viewOf(buf);
  const h = fiemapCodec.decode(v, buf, 0) as { fm_flags: number; fm_mapped_extents: number; fm_extent_count: number };
  const room = Math.floor((buf.length - fiemap.size) / fiemapExtent.size);
  if (h.fm_mapped_extents > h.fm_extent_count || h.fm_mapped_extents > room) return { overflow: h.fm_mapped_extents, extentCount: Math.min(h.fm_extent_count, room) };
  const extents: RawFiemapExtent[] = [];
  for (let i = 0; i < h.fm_mapped_extents; i++) {
    const e = fiemapExtentCodec.decode(v, buf, fiemap.size + i * fiemapExtent.size) as { fe_logical: bigint; fe_physical: bigint; fe_length: bigint; fe_flags: number };
    extents.push({ logicalBytes: e.fe_logical, physicalBytes: e.fe_physical, lengthBytes: e.fe_length, flags: e.fe_flags });
  }
  return { flags: h.fm_flags, mappedExtents: h.fm_mapped_extents, extentCount: h.fm_extent_count, extents };
}
