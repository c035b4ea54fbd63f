/**
 * Payload chains after the header. Every record is 8-byte aligned from the start of the
 * ioctl buffer. `next` means three different things: for TABLE_LOAD input it is relative
 * to the current spec; for STATUS/TABLE/WAIT output it is relative to data_start (iterate
 * by target_count); for name lists and versions it is relative to the current record
 * (0 = last). Decoders never read outside [start, end), never follow a `next` that does
 * not advance, and never trust a count that does not fit.
 */
import { alignUp, type StructCodec } from './layout.js';
import { dmNameList, dmNameListTrailer, dmTargetDeps, dmTargetMsg, dmTargetSpec, dmTargetVersions } from './records.js';
import { DmCodecError, malformed } from './errors.js';
import { findNul, rawIfLossy, utf8Decode, utf8Encode } from './text.js';
import { decodeDev, type DevNo } from './dev.js';
import { checkTargetType, checkU64 } from './validate.js';
import { describeParams } from './secrets.js';
import { madeCopy } from './copies.js';
import { DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID, DM_NAME_LIST_FLAG_HAS_UUID, type Version } from './constants.js';
import type { ListedDevice, TargetLine, TargetSpecInput, TargetVersion } from './types.js';

/** The compiled codecs of the records after the header (DmCodec.records); not exported from the entry point (docs/api-reference.md). */
export interface RecordCodecs {
  spec: StructCodec<(typeof dmTargetSpec)['declared']>;
  deps: StructCodec<(typeof dmTargetDeps)['declared']>;
  nameList: StructCodec<(typeof dmNameList)['declared']>;
  trailer: StructCodec<(typeof dmNameListTrailer)['declared']>;
  versions: StructCodec<(typeof dmTargetVersions)['declared']>;
  msg: StructCodec<(typeof dmTargetMsg)['declared']>;
}

/** sizeof(struct dm_target_spec): its params follow. */
const SPEC_SIZE = dmTargetSpec.size;
/** Payload records are 8-byte aligned from the start of the buffer. */
const RECORD_ALIGN = 8;
const NL = dmNameList.offsetOf;
const TR = dmNameListTrailer.offsetOf;
const TV = dmTargetVersions.offsetOf;
const DEPS = dmTargetDeps.offsetOf;
const MSG = dmTargetMsg.offsetOf;
const BACKSLASH = 0x5c;

/** A validated table, ready to encode: params already escaped into bytes. */
export interface PreparedTable {
  readonly specs: readonly { start: bigint; length: bigint; type: string; params: Uint8Array; owned: boolean }[];
  /** Bytes the spec chain takes, from data_start. */
  readonly sizeBytes: number;
}

/**
 * Zero-fills every copy of params the codec made for this table (escaped or UTF-8 encoded:
 * they may hold key material). The caller's own Uint8Array params are left alone. Idempotent.
 */
export function wipePreparedTable(table: PreparedTable): void {
  for (const s of table.specs) if (s.owned) s.params.fill(0);
}

/**
 * libdevmapper's rule: every `\` in params is doubled, so the kernel's dm_split_args()
 * hands a backslash to the target literally. Done here and nowhere else. The result is
 * `params` itself (bytes without a backslash) or a new copy; no other copy is left behind.
 */
export function escapeParams(params: string | Uint8Array): Uint8Array {
  if (typeof params === 'string') {
    // ASCII fast path (table lines nearly always are): encode and escape in one go.
    const n = params.length;
    let slashes = 0;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = params.charCodeAt(i);
      if (c >= 0x80) { ascii = false; break; }
      if (c === BACKSLASH) slashes++;
    }
    if (ascii) {
      const out = madeCopy(new Uint8Array(n + slashes));
      for (let i = 0, j = 0; i < n; i++) {
        const c = params.charCodeAt(i);
        out[j++] = c;
        if (c === BACKSLASH) out[j++] = BACKSLASH;
      }
      return out;
    }
  }
  const raw = typeof params === 'string' ? madeCopy(utf8Encode(params)) : params;
  let n = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] === BACKSLASH) n++;
  if (n === 0) return raw;
  const out = madeCopy(new Uint8Array(raw.length + n));
  let j = 0;
  for (let i = 0; i < raw.length; i++) {
    out[j++] = raw[i]!;
    if (raw[i] === BACKSLASH) out[j++] = BACKSLASH;
  }
  // The UTF-8 encoding of a string is our own intermediate copy: wipe it.
  if (raw !== params) raw.fill(0);
  return out;
}

/**
 * Checks a table before anything is encoded: at least one target, contiguous from sector
 * 0, no gap or overlap, every length > 0, type ≤ 15 bytes, params without NUL. The error
 * names the offending line; its params are shown by codec/secrets.ts's rule (`secure`:
 * the load carries secrets), so no error text quotes a key. When a line is rejected, the
 * copies already made for earlier lines are wiped before the error is thrown.
 */
export function prepareTable(targets: readonly TargetSpecInput[], secure = false): PreparedTable {
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new DmCodecError('INVALID_TABLE', 'a table needs at least one target', 'targets');
  }
  let expected = 0n;
  let size = 0;
  const specs: PreparedTable['specs'][number][] = [];
  // Hot for big tables: field names and messages are only built when a check fails.
  const line = (i: number, t: TargetSpecInput) => `line ${i + 1} (${describe(t, secure)})`;
  try {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      if (t === null || typeof t !== 'object') throw new DmCodecError('INVALID_TABLE', `${fieldOf(i)} must be an object`, fieldOf(i));
      const start = sectorOf(t.start, i, 'start');
      const length = sectorOf(t.length, i, 'length');
      if (length === 0n) throw new DmCodecError('INVALID_TABLE', `${line(i, t)}: length must be greater than 0`, fieldOf(i));
      if (start !== expected) {
        const what = start < expected ? 'overlaps the previous target' : 'leaves a gap after the previous target';
        throw new DmCodecError('INVALID_TABLE', `${line(i, t)}: starts at sector ${start} but must start at ${expected} (${what}); targets must be contiguous from sector 0`, fieldOf(i));
      }
      expected = start + length;
      if (expected > 0xffffffffffffffffn) throw new DmCodecError('INVALID_TABLE', `${line(i, t)}: ends beyond 2^64 sectors`, fieldOf(i));
      let type: string;
      if (isPlainType(t.type)) type = t.type;
      else {
        try { type = checkTargetType(t.type, `${fieldOf(i)}.type`); } catch (e) {
          throw new DmCodecError('INVALID_TABLE', `${line(i, t)}: ${(e as Error).message}`, `${fieldOf(i)}.type`);
        }
      }
      if (typeof t.params !== 'string' && !(t.params instanceof Uint8Array)) {
        throw new DmCodecError('INVALID_TABLE', `${line(i, t)}: params must be a string or bytes`, `${fieldOf(i)}.params`);
      }
      const params = escapeParams(t.params);
      // A copy made here (UTF-8 or escaping) is wiped once written: it may hold key material.
      const owned = params !== t.params;
      specs.push({ start, length, type, params, owned });
      if (params.indexOf(0) >= 0) throw new DmCodecError('INVALID_TABLE', `${line(i, t)}: params must not contain NUL`, `${fieldOf(i)}.params`);
      size += specSize(params.length);
    }
  } catch (e) {
    wipePreparedTable({ specs, sizeBytes: size });
    throw e;
  }
  return { specs, sizeBytes: size };
}

function fieldOf(i: number): string {
  return `targets[${i}]`;
}

/** checkU64 with a fast path that builds no field name for a valid value. */
function sectorOf(v: unknown, i: number, name: 'start' | 'length'): bigint {
  if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffffffffffn) return v;
  return checkU64(v, `${fieldOf(i)}.${name}`, 'INVALID_SECTOR');
}

/** A target type checkTargetType would accept, decided cheaply: 1…15 printable ASCII, no space. */
function isPlainType(v: unknown): v is string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 15) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** A line for an error message: params through describeParams (codec/secrets.ts), then shortened. */
function describe(t: TargetSpecInput, secure: boolean): string {
  if (!t) return String(t);
  const p = describeParams(t.type, t.params, secure);
  return `${String(t.start)} ${String(t.length)} ${String(t.type)} ${p.length > 60 ? p.slice(0, 57) + '...' : p}`;
}

function specSize(paramsLength: number): number {
  return alignUp(SPEC_SIZE + paramsLength + 1, RECORD_ALIGN);
}

/** TABLE_LOAD input: spec + params + NUL, padded to 8; `next` counts from the current spec. */
export function encodeTable(rc: RecordCodecs, view: DataView, bytes: Uint8Array, offsetBytes: number, table: PreparedTable): number {
  let off = offsetBytes;
  for (const s of table.specs) {
    const size = specSize(s.params.length);
    rc.spec.encode(view, bytes, off, { sector_start: s.start, length: s.length, status: 0, next: size, target_type: s.type });
    bytes.set(s.params, off + SPEC_SIZE);
    if (s.owned) s.params.fill(0);
    bytes.fill(0, off + SPEC_SIZE + s.params.length, off + size);
    off += size;
  }
  return off;
}

/**
 * STATUS/TABLE/WAIT output: `count` specs; `next` counts from data_start. With
 * BUFFER_FULL the kernel fills as many specs as fit, so a partial chain is returned
 * instead of an error.
 */
export function decodeTargets(rc: RecordCodecs, view: DataView, bytes: Uint8Array, start: number, end: number, count: number, partial: boolean): TargetLine[] {
  const out: TargetLine[] = [];
  let off = start;
  for (let i = 0; i < count; i++) {
    if (off + SPEC_SIZE > end) {
      if (partial) break;
      throw malformed(`target ${i} of ${count} lies outside the returned data`, 'dm_target_spec');
    }
    const spec = rc.spec.decode(view, bytes, off);
    const nul = findNul(bytes, off + SPEC_SIZE, end);
    if (nul < 0) {
      if (partial) break;
      throw malformed(`target ${i} params are not NUL-terminated inside the returned data`, 'dm_target_spec');
    }
    out.push({ start: spec.sector_start, length: spec.length, type: spec.target_type, params: utf8Decode(bytes, off + SPEC_SIZE, nul) });
    if (i === count - 1) break;
    const next = start + spec.next;
    if (next <= off || next > end || next < nul + 1) {
      if (partial) break;
      throw malformed(`target ${i} has a next offset (${spec.next}) that does not advance inside the data`, 'dm_target_spec.next');
    }
    off = next;
  }
  return out;
}

/**
 * LIST_DEVICES output. Each record: dev, next (from this record), name; then, on 4.37+,
 * an 8-aligned event_nr; on 4.45+ a flags word after it and, when flags has HAS_UUID, an
 * 8-aligned uuid. Whether the trailer is there is read from the record's bounds (there
 * must be room for it) and the kernel version; uuid presence from the flag bits.
 *
 * 4.37–4.44 write only the event_nr: the 4 bytes where 4.45 puts the flags are never
 * written there, so they hold whatever the caller's buffer held (measured on 5.10, dm
 * 4.43: stale bytes there decoded as "HAS_UUID" and a garbage uuid; docs/kernel-facts.md). They are not read.
 *
 * Two passes, for speed at 10,000 devices (bench/scale-path.bench.ts): the first walks and
 * checks every record (any malformed one throws before an object is built) and copies each
 * name and uuid into one buffer, NUL-separated; the second decodes that buffer with one
 * UTF-8 decode (see decodeJoined) and builds the records. One decode call per reply instead
 * of one per string halved the string cost on the host.
 */
export function decodeNameList(rc: RecordCodecs, view: DataView, bytes: Uint8Array, start: number, end: number, kernel: Version): ListedDevice[] {
  const out: ListedDevice[] = [];
  if (end - start < NL.next) return out;
  const le = rc.nameList.endian === 'little';
  // "Flags no data": read only the 8-byte dev here; a 12-byte record head may not fit.
  if (view.getBigUint64(start + NL.dev, le) === 0n) return out;
  const trailerByVersion = kernel[0] > 4 || (kernel[0] === 4 && kernel[1] >= 37);
  const flagsByVersion = kernel[0] > 4 || (kernel[0] === 4 && kernel[1] >= 45);
  const tle = rc.trailer.endian === 'little';
  // Per record: offset, name start, name end, uuid start (UUID_UNKNOWN / UUID_NONE), uuid end, event_nr (-1: none).
  const recs: number[] = [];
  // Every string's bytes and a NUL after each: never longer than the data they come from.
  const joined = new Uint8Array(end - start);
  let j = 0;
  let off = start;
  for (;;) {
    if (off + NL.name + 1 > end) throw malformed(`name-list record at ${off} lies outside the returned data`, 'dm_name_list');
    const next = view.getUint32(off + NL.next, le);
    const recEnd = next === 0 ? end : off + next;
    if (next !== 0 && (next < dmNameList.size || recEnd > end)) {
      throw malformed(`name-list record at ${off} has a next offset (${next}) outside the data`, 'dm_name_list.next');
    }
    const nameStart = off + NL.name;
    let nul = -1;
    for (let i = nameStart; i < recEnd; i++) {
      const c = bytes[i]!;
      if (c === 0) { nul = i; break; }
      joined[j++] = c;
    }
    if (nul < 0) throw malformed(`name-list record at ${off}: name is not NUL-terminated`, 'dm_name_list.name');
    j++; // the separator: `joined` is zero-filled
    // Only error messages need the name before the second pass.
    const nameOf = () => utf8Decode(bytes, nameStart, nul);
    const tOff = alignUp(nul + 1, RECORD_ALIGN);
    let eventNr = -1;
    let uStart = UUID_UNKNOWN;
    let uEnd = 0;
    // Kernels before 4.37 place the next record at align8(record + 16 + name + 1), which can
    // leave exactly 8 spare bytes: bounds alone cannot tell, so the version decides whether
    // a trailer was written, the bounds must then hold it, and its flag bits must be known.
    if (trailerByVersion && !flagsByVersion) {
      if (tOff + dmNameListTrailer.offsetOf.flags > recEnd) throw malformed(`name-list record "${nameOf()}": no room for the event_nr trailer`, 'dm_name_list');
      eventNr = view.getUint32(tOff + TR.event_nr, tle);
    } else if (trailerByVersion) {
      if (tOff + dmNameListTrailer.size > recEnd) throw malformed(`name-list record "${nameOf()}": no room for the event_nr/flags trailer`, 'dm_name_list');
      eventNr = view.getUint32(tOff + TR.event_nr, tle);
      const flags = view.getUint32(tOff + TR.flags, tle);
      const has = (flags & DM_NAME_LIST_FLAG_HAS_UUID) !== 0;
      const hasNot = (flags & DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID) !== 0;
      if ((flags & ~3) !== 0 || (has && hasNot)) {
        throw malformed(`name-list record "${nameOf()}": unknown trailer flags 0x${flags.toString(16)}`, 'dm_name_list.flags');
      }
      if (has) {
        uStart = tOff + dmNameListTrailer.size;
        uEnd = -1;
        for (let i = uStart; i < recEnd; i++) {
          const c = bytes[i]!;
          if (c === 0) { uEnd = i; break; }
          joined[j++] = c;
        }
        if (uEnd < 0) throw malformed(`name-list record "${nameOf()}": uuid is not NUL-terminated`, 'dm_name_list.uuid');
        j++;
      } else if (hasNot) {
        uStart = UUID_NONE;
      }
    }
    recs.push(off, nameStart, nul, uStart, uEnd, eventNr);
    if (next === 0) break;
    off += next;
  }
  const strings = decodeJoined(joined, j);
  for (let r = 0, s = 0; r < recs.length; r += 6) {
    const nameStart = recs[r + 1]!, nameEnd = recs[r + 2]!, uStart = recs[r + 3]!, uEnd = recs[r + 4]!, ev = recs[r + 5]!;
    const name = strings[s++]!;
    const nameBytes = rawIfLossy(name, bytes, nameStart, nameEnd);
    let uuid: string | null | undefined;
    let uuidBytes: Uint8Array | undefined;
    if (uStart >= 0) {
      uuid = strings[s++]!;
      uuidBytes = rawIfLossy(uuid, bytes, uStart, uEnd);
    } else if (uStart === UUID_NONE) {
      uuid = null;
    }
    const d: ListedDevice & { nameBytes?: Uint8Array; uuidBytes?: Uint8Array } = {
      name, dev: decodeDev(view.getBigUint64(recs[r]! + NL.dev, le)), eventNr: ev < 0 ? undefined : ev, uuid,
    };
    if (nameBytes) d.nameBytes = nameBytes;
    if (uuidBytes) d.uuidBytes = uuidBytes;
    out.push(d);
  }
  return out;
}

/** decodeNameList's uuid start for a record whose kernel does not say (pre-4.45) … */
const UUID_UNKNOWN = -1;
/** … and for one that says it has none (DOESNT_HAVE_UUID). */
const UUID_NONE = -2;

/**
 * The strings of `joined[0, length)`: NUL-free byte strings, each followed by one NUL, as
 * UTF-8 (U+FFFD for invalid sequences), in order. One decode and a split: the same strings
 * as decoding each piece alone, because the WHATWG UTF-8 decoder ends an unfinished
 * sequence at the NUL (one U+FFFD) and starts afresh after it (the NUL is a whole character),
 * and ignoreBOM keeps a leading U+FEFF in any piece. spec/codec/name-list-decode.spec.ts
 * checks it against one decode per piece over random and invalid bytes.
 */
export function decodeJoined(joined: Uint8Array, length: number): string[] {
  const all = utf8Decode(joined, 0, length).split('\0');
  all.pop(); // after the last NUL
  return all;
}

/** LIST_VERSIONS / GET_TARGET_VERSION output: records chained by `next` from each record. */
export function decodeVersions(rc: RecordCodecs, view: DataView, bytes: Uint8Array, start: number, end: number): TargetVersion[] {
  const out: TargetVersion[] = [];
  if (end - start < dmTargetVersions.size) return out;
  let off = start;
  for (;;) {
    if (off + TV.name + 1 > end) throw malformed(`target-version record at ${off} lies outside the returned data`, 'dm_target_versions');
    const rec = rc.versions.decode(view, bytes, off);
    const recEnd = rec.next === 0 ? end : off + rec.next;
    if (rec.next !== 0 && (rec.next < TV.name + 1 || recEnd > end)) {
      throw malformed(`target-version record at ${off} has a next offset (${rec.next}) outside the data`, 'dm_target_versions.next');
    }
    const nul = findNul(bytes, off + TV.name, recEnd);
    if (nul < 0) throw malformed(`target-version record at ${off}: name is not NUL-terminated`, 'dm_target_versions.name');
    const v = rec.version;
    out.push({ name: utf8Decode(bytes, off + TV.name, nul), version: [v[0]!, v[1]!, v[2]!] });
    if (rec.next === 0) return out;
    off += rec.next;
  }
}

/** TABLE_DEPS output: count, padding, then count u64 device numbers. */
export function decodeDeps(rc: RecordCodecs, view: DataView, bytes: Uint8Array, start: number, end: number, le: boolean): DevNo[] {
  if (end - start < DEPS.dev) throw malformed('dependency list header lies outside the returned data', 'dm_target_deps');
  const { count } = rc.deps.decode(view, bytes, start);
  if (count > (end - start - DEPS.dev) / 8) {
    throw malformed(`dependency count ${count} does not fit in the ${end - start} returned bytes`, 'dm_target_deps.count');
  }
  const out: DevNo[] = [];
  for (let i = 0; i < count; i++) out.push(decodeDev(view.getBigUint64(start + DEPS.dev + i * 8, le)));
  return out;
}

/** TARGET_MSG input: the sector, then the NUL-terminated message. Returns the end offset. */
export function encodeMessage(rc: RecordCodecs, view: DataView, bytes: Uint8Array, start: number, sector: bigint, message: Uint8Array): number {
  rc.msg.encode(view, bytes, start, { sector });
  bytes.set(message, start + MSG.message);
  bytes[start + MSG.message + message.length] = 0;
  return start + MSG.message + message.length + 1;
}

/** A NUL-terminated string payload (rename target, geometry, message output). */
export function encodeString(bytes: Uint8Array, start: number, s: Uint8Array): number {
  bytes.set(s, start);
  bytes[start + s.length] = 0;
  return start + s.length + 1;
}

export function decodeString(bytes: Uint8Array, start: number, end: number, field: string): string {
  const nul = findNul(bytes, start, end);
  if (nul < 0) throw malformed(`${field} is not NUL-terminated inside the returned data`, field);
  return utf8Decode(bytes, start, nul);
}
