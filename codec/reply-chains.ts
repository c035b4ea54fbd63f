/**
 * The reply encoder: the payloads the kernel writes after a reply's header, as dm-ioctl.c
 * lays them out (LIST_DEVICES' name records and their trailer, LIST_VERSIONS' records,
 * TABLE_DEPS' device list, TABLE_STATUS' specs with their text, a message's output). The
 * simulated kernel writes its replies with these, and the specs build the replies they decode
 * with them, so there is one encoder of each chain; payload.ts decodes the same layouts. Every
 * offset and size comes from records.ts. Each writer takes the record codecs of one byte
 * order (`codec.records`) and a DataView over exactly `bytes`, writes at `start`, and returns
 * where its chain ends; the caller has checked that the chain fits (the kernel's own size
 * checks differ per command and per version, and stay with the caller).
 */
import { alignUp } from './layout.js';
import type { RecordCodecs } from './payload.js';
import { dmNameList, dmNameListTrailer, dmTargetDeps, dmTargetSpec, dmTargetVersions, DM_MAX_TYPE_NAME } from './records.js';
import type { Version } from './constants.js';

const NL = dmNameList.offsetOf;
const TV = dmTargetVersions.offsetOf;
const SPEC_SIZE = dmTargetSpec.size;
const TYPE_LAST_BYTE = dmTargetSpec.offsetOf.target_type + DM_MAX_TYPE_NAME - 1;
const align8 = (n: number): number => alignUp(n, 8);

/** One LIST_DEVICES record. */
export interface NameRecord {
  /** huge_encode_dev() of the device. */
  readonly dev: bigint;
  /** The name's bytes (no NUL). */
  readonly name: Uint8Array;
  /**
   * The trailer after the name (4.37+; absent before). `flags` undefined: 4.37–4.44 write
   * event_nr only, and the flags word keeps what the buffer held. `uuid`: written after the
   * trailer (DM_NAME_LIST_FLAG_HAS_UUID, 4.45+ with DM_UUID_FLAG).
   */
  readonly trailer?: { readonly eventNr: number; readonly flags?: number; readonly uuid?: Uint8Array };
}

/**
 * The bytes one name record takes, from its (8-aligned) start to the next record's. Without
 * a trailer it is the pre-4.37 layout: `align_ptr(++nl + strlen(name) + 1)`.
 */
export function nameRecordSize(r: NameRecord): number {
  if (!r.trailer) return align8(dmNameList.size + r.name.length + 1);
  return align8(NL.name + r.name.length + 1) + dmNameListTrailer.size + (r.trailer.uuid ? align8(r.trailer.uuid.length + 1) : 0);
}

/**
 * list_devices(): `nl->dev = 0` at `start` ("no data" when the list is empty), then one
 * record per device, each `next` relative to itself and the last one 0. Returns the end of
 * the last record (`start` for an empty list).
 */
export function writeNameList(records: RecordCodecs, view: DataView, bytes: Uint8Array, offsetBytes: number, list: readonly NameRecord[]): number {
  const le = records.nameList.endian === 'little';
  view.setBigUint64(offsetBytes + NL.dev, 0n, le);
  let off = offsetBytes;
  let prev = -1;
  for (const r of list) {
    if (prev >= 0) view.setUint32(prev + NL.next, off - prev, le);
    records.nameList.encode(view, bytes, off, { dev: r.dev, next: 0 });
    writeCString(bytes, off + NL.name, r.name);
    if (r.trailer) {
      const t = align8(off + NL.name + r.name.length + 1);
      view.setUint32(t + dmNameListTrailer.offsetOf.event_nr, r.trailer.eventNr, le);
      if (r.trailer.flags !== undefined) view.setUint32(t + dmNameListTrailer.offsetOf.flags, r.trailer.flags, le);
      if (r.trailer.uuid) writeCString(bytes, t + dmNameListTrailer.size, r.trailer.uuid);
    }
    prev = off;
    off += nameRecordSize(r);
  }
  return off;
}

/** One LIST_VERSIONS / GET_TARGET_VERSION record. */
export interface TargetVersionRecord {
  readonly name: Uint8Array;
  readonly version: Version;
}

/** The bytes one target version record takes, to the next record's start. */
export function targetVersionRecordSize(r: TargetVersionRecord): number {
  return align8(TV.name + r.name.length + 1);
}

/** __list_versions(): records chained by `next` from each record, the last one 0. Returns the aligned end. */
export function writeTargetVersions(records: RecordCodecs, view: DataView, bytes: Uint8Array, offsetBytes: number, list: readonly TargetVersionRecord[]): number {
  const le = records.versions.endian === 'little';
  let off = offsetBytes;
  let prev = -1;
  for (const r of list) {
    if (prev >= 0) view.setUint32(prev + TV.next, off - prev, le);
    records.versions.encode(view, bytes, off, { next: 0, version: [r.version[0], r.version[1], r.version[2]] });
    writeCString(bytes, off + TV.name, r.name);
    prev = off;
    off += targetVersionRecordSize(r);
  }
  return off;
}

/** retrieve_deps(): a dm_target_deps with `count` and the devices after it. Returns the end of the last. */
export function writeTargetDeps(records: RecordCodecs, view: DataView, bytes: Uint8Array, offsetBytes: number, devs: readonly bigint[]): number {
  const le = records.deps.endian === 'little';
  records.deps.encode(view, bytes, offsetBytes, { count: devs.length, padding: 0 });
  const at = offsetBytes + dmTargetDeps.offsetOf.dev;
  devs.forEach((d, i) => view.setBigUint64(at + 8 * i, d, le));
  return at + 8 * devs.length;
}

/** One line of a TABLE_STATUS / DEV_WAIT reply. */
export interface StatusRecord {
  readonly start: bigint;
  readonly length: bigint;
  readonly type: string;
  /** The status or table text (no NUL); read once, only when the line's spec fits. */
  readonly text: Uint8Array;
}

/** What {@link writeStatusChain} wrote. */
export interface StatusChain {
  /** The byte offset just past the last text written (its NUL included); 0 when no line was complete. */
  readonly endOffsetBytes: number;
  /** The lines did not all fit: the kernel then sets DM_BUFFER_FULL_FLAG. */
  readonly full: boolean;
}

/**
 * retrieve_status(): one dm_target_spec per line with its NUL-terminated text after it, each
 * `next` counted from `start` (data_start) to the next spec's aligned position, within
 * `room` bytes after `start`. A line that does not fit ends the chain as the kernel ends it:
 * a spec without room is not written; a text is cut to what fits (snprintf-like DMEMIT) and,
 * cut or exactly filling, marks the reply full; a next spec position past the room leaves
 * `next` unwritten. `typeCopy` 'strncpy' copies 15 bytes of the type and keeps the byte after
 * them as the buffer held it (kernels before the 2023 strscpy_pad change).
 */
export function writeStatusChain(
  records: RecordCodecs, view: DataView, bytes: Uint8Array, offsetBytes: number, room: number,
  lines: readonly StatusRecord[], typeCopy: 'strncpy' | 'strscpy_pad' = 'strscpy_pad',
): StatusChain {
  const le = records.spec.endian === 'little';
  let out = 0;
  let endOffsetBytes = 0;
  for (const line of lines) {
    if (room - out <= SPEC_SIZE) return { endOffsetBytes, full: true };
    const specOff = offsetBytes + out;
    const kept = bytes[specOff + TYPE_LAST_BYTE]!;
    records.spec.encode(view, bytes, specOff, { sector_start: line.start, length: line.length, status: 0, next: 0, target_type: line.type.slice(0, DM_MAX_TYPE_NAME - 1) });
    if (typeCopy === 'strncpy') bytes[specOff + TYPE_LAST_BYTE] = kept;
    out += SPEC_SIZE;
    const remaining = room - out;
    const text = line.text; // read once, and only for a line whose spec fitted
    const n = Math.min(text.length, remaining - 1);
    writeCString(bytes, offsetBytes + out, text.subarray(0, n));
    if (n + 1 === remaining) return { endOffsetBytes, full: true };
    out += n + 1;
    endOffsetBytes = offsetBytes + out;
    out = align8(offsetBytes + out) - offsetBytes;
    if (out > room) return { endOffsetBytes, full: true };
    view.setUint32(specOff + dmTargetSpec.offsetOf.next, out, le);
  }
  return { endOffsetBytes, full: false };
}

/** `text` and a NUL at `off` (a message's output, a record's name). Returns the endOffsetBytes, NUL included. */
export function writeCString(bytes: Uint8Array, off: number, text: Uint8Array): number {
  bytes.set(text, off);
  bytes[off + text.length] = 0;
  return off + text.length + 1;
}
