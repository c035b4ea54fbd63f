/**
 * A file's extents through FS_IOC_FIEMAP (the backend's `openFileMap`), merged into the
 * runs libdm's `_stats_get_extents_for_file` / `_stats_map_extents` make of them: one run
 * per physically contiguous stretch, each the region a dm-stats file map gets
 * (docs/stats.md, "File maps"). Replies are checked before anything is built from them.
 */
import type { FileMapHandle } from '../kernel/backend.js';
import { decodeFiemapReply, encodeFiemapRequest, type RawFiemapExtent } from '../kernel/syscall-structs.js';
import { DmFileMapError } from '../errors.js';

/** FIEMAP_FLAG_SYNC: the filesystem writes the file back before mapping it (libdm asks for it). */
export const FIEMAP_FLAG_SYNC = 0x1;
/** FIEMAP_EXTENT_LAST: the file's last extent. */
export const FIEMAP_EXTENT_LAST = 0x1;
/** FIEMAP_EXTENT_UNKNOWN: the extent's location is not known yet. */
export const FIEMAP_EXTENT_UNKNOWN = 0x2;
/** FIEMAP_EXTENT_DELALLOC: delayed allocation (implies UNKNOWN). */
export const FIEMAP_EXTENT_DELALLOC = 0x4;

/** libdm's STATS_FIE_BUF_LEN: each FIEMAP call's buffer (a 32-byte header and 36 extents). */
export const FIEMAP_BUFFER_BYTES = 2048;

/** btrfs's statfs magic: its FIEMAP gives logical, not device, addresses (libdm refuses it). */
const BTRFS_SUPER_MAGIC = 0x9123683e;

/** One extent of a file as FIEMAP reports it, in bytes. */
export interface FileExtent {
  /** Offset in the file. */
  readonly logicalBytes: bigint;
  /** Offset on the device that holds the filesystem. */
  readonly physicalBytes: bigint;
  readonly lengthBytes: bigint;
  /** FIEMAP_EXTENT_* flags. */
  readonly flags: number;
}

/** A physically contiguous run of a file's extents: one dm-stats region of a file map. */
export interface FileExtentRun {
  /** Where the run starts on the device (physical bytes / 512, as libdm shifts). */
  readonly startSectors: bigint;
  /** Its length (bytes / 512). */
  readonly lengthSectors: bigint;
}

/** What `readFileExtents` found. */
export interface FileExtents {
  /** The device holding the file (st_dev). */
  readonly device: { readonly major: number; readonly minor: number };
  /** Every extent of every reply, in order. */
  readonly extents: readonly FileExtent[];
  /** The runs libdm makes regions of, in file order. */
  readonly runs: readonly FileExtentRun[];
}

function bad(path: string, why: string): never {
  throw new DmFileMapError('BAD_FIEMAP', path, `FIEMAP of ${path} answered ${why}`);
}

/**
 * libdm's merge over one reply (`_stats_map_extents`): extents not yet allocated are skipped;
 * a new run starts where an extent past the file's start does not follow the previous one
 * physically; a run is added at a boundary, at the last extent, and (libdm's rule for a file
 * of one extent) when a reply ends with the extent at logical 0.
 */
class Merger {
  #last = { physicalBytes: 0n, lengthBytes: 0n };
  #pending = { physicalBytes: 0n, lengthBytes: 0n };
  readonly runs: FileExtentRun[] = [];
  eof = false;

  #add(): void {
    // libdm would add an empty run when every extent was unallocated; a region of length 0
    // would be the whole device, so none is added.
    if (this.#pending.lengthBytes === 0n) return;
    this.runs.push({ startSectors: this.#pending.physicalBytes >> 9n, lengthSectors: this.#pending.lengthBytes >> 9n });
  }

  reply(extents: readonly RawFiemapExtent[]): void {
    for (const e of extents) {
      const expected = this.#last.physicalBytes + this.#last.lengthBytes;
      if (e.flags & FIEMAP_EXTENT_LAST) this.eof = true;
      if (e.flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC)) continue;
      if (this.#pending.lengthBytes && e.logicalBytes !== 0n && e.physicalBytes !== expected) {
        this.#add();
        this.#pending = { physicalBytes: e.physicalBytes, lengthBytes: e.lengthBytes };
      } else if (!this.#pending.lengthBytes || e.logicalBytes === 0n) {
        this.#pending = { physicalBytes: e.physicalBytes, lengthBytes: e.lengthBytes };
      } else {
        this.#pending = { physicalBytes: this.#pending.physicalBytes, lengthBytes: this.#pending.lengthBytes + e.lengthBytes };
      }
      this.#last = e;
    }
    if (this.eof || extents[extents.length - 1]!.logicalBytes === 0n) this.#add();
  }
}

/**
 * Reads an open file's extents as libdm does (FIEMAP_FLAG_SYNC, 2048-byte buffers, calls
 * until an extent says it is the last or a reply is empty) and merges them into runs (none
 * for a file with no allocated extents).
 * Refuses (DmFileMapError) what libdm refuses and every impossible reply: more extents than
 * asked for, extents out of order or overlapping in the file, an empty or wrapping extent.
 */
export async function readFileExtents(file: FileMapHandle, checkStop: () => void = () => {}): Promise<FileExtents> {
  const path = file.path;
  if (file.filesystemType === BTRFS_SUPER_MAGIC) throw new DmFileMapError('NOT_MAPPABLE', path, 'Cannot map file: btrfs does not provide physical FIEMAP extent data.');
  if (!file.regular) throw new DmFileMapError('NOT_MAPPABLE', path, 'Not a regular file');
  const buf = new Uint8Array(FIEMAP_BUFFER_BYTES);
  const merger = new Merger();
  const extents: FileExtent[] = [];
  let start = 0n;
  let logicalEnd = 0n;
  const limit = 1n << 64n;
  do {
    checkStop();
    encodeFiemapRequest(buf, start, FIEMAP_FLAG_SYNC);
    await file.fiemap(buf);
    const reply = decodeFiemapReply(buf);
    if ('overflow' in reply) bad(path, `${reply.overflow} extents for a buffer of ${reply.extentCount}`);
    if (reply.mappedExtents === 0) break;
    for (const e of reply.extents) {
      if (e.lengthBytes === 0n) bad(path, `an empty extent at logical byte ${e.logicalBytes}`);
      if (e.logicalBytes + e.lengthBytes > limit || e.physicalBytes + e.lengthBytes > limit) bad(path, `an extent past 2^64 at logical byte ${e.logicalBytes}`);
      if (e.logicalBytes < logicalEnd) bad(path, `overlapping extents (logical byte ${e.logicalBytes} before ${logicalEnd})`);
      logicalEnd = e.logicalBytes + e.lengthBytes;
      extents.push(e);
    }
    merger.reply(reply.extents);
    const last = reply.extents[reply.extents.length - 1]!;
    const next = last.logicalBytes + last.lengthBytes;
    // The next call starts after this reply's last extent: a reply that does not move it would loop.
    if (!merger.eof && next <= start) bad(path, `no progress past logical byte ${start}`);
    start = next;
  } while (!merger.eof);
  // No runs is a truncated file: an update deletes its regions, a create refuses it.
  return { device: file.device, extents, runs: merger.runs };
}
