/**
 * `--dry-run --hex`: the exact request bytes annotated with the layout's field names, and
 * `dmctl decode`: a reply's bytes back to JSON. Fields are read by the codec compiled from
 * the same `struct()` declarations (codec/records.ts): offsets, sizes and element types
 * come from there, and what follows the header from the command's row.
 */
import {
  codec, COMMAND_TABLE, COMMANDS, compile, dmIoctl, dmTargetMsg, dmTargetSpec, decodeDev, isCommand, maskParamBytes, requestCode, DM_DATA_START,
  DM_IOCTL_SIZE, type CommandName, type Layout, type RequestPayload, type StructCodec,
} from '../codec/index.js';
import * as C from '../codec/index.js';

const FLAG_NAMES: [number, string][] = [
  [C.DM_READONLY_FLAG, 'DM_READONLY_FLAG'], [C.DM_SUSPEND_FLAG, 'DM_SUSPEND_FLAG'], [C.DM_PERSISTENT_DEV_FLAG, 'DM_PERSISTENT_DEV_FLAG'],
  [C.DM_STATUS_TABLE_FLAG, 'DM_STATUS_TABLE_FLAG'], [C.DM_ACTIVE_PRESENT_FLAG, 'DM_ACTIVE_PRESENT_FLAG'],
  [C.DM_INACTIVE_PRESENT_FLAG, 'DM_INACTIVE_PRESENT_FLAG'], [C.DM_BUFFER_FULL_FLAG, 'DM_BUFFER_FULL_FLAG'],
  [C.DM_SKIP_BDGET_FLAG, 'DM_SKIP_BDGET_FLAG'], [C.DM_SKIP_LOCKFS_FLAG, 'DM_SKIP_LOCKFS_FLAG'], [C.DM_NOFLUSH_FLAG, 'DM_NOFLUSH_FLAG'],
  [C.DM_QUERY_INACTIVE_TABLE_FLAG, 'DM_QUERY_INACTIVE_TABLE_FLAG'], [C.DM_UEVENT_GENERATED_FLAG, 'DM_UEVENT_GENERATED_FLAG'],
  [C.DM_UUID_FLAG, 'DM_UUID_FLAG'], [C.DM_SECURE_DATA_FLAG, 'DM_SECURE_DATA_FLAG'], [C.DM_DATA_OUT_FLAG, 'DM_DATA_OUT_FLAG'],
  [C.DM_DEFERRED_REMOVE, 'DM_DEFERRED_REMOVE'], [C.DM_INTERNAL_SUSPEND_FLAG, 'DM_INTERNAL_SUSPEND_FLAG'],
  [C.DM_IMA_MEASUREMENT_FLAG, 'DM_IMA_MEASUREMENT_FLAG'],
];

export function flagNames(flags: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
}

/** One field of an annotated request: where it is, its record's field name and its value. */
export interface AnnotatedField {
  /** Where the field starts in the request, in bytes. */
  offsetBytes: number;
  /** How long it is, in bytes. */
  sizeBytes: number;
  /** The record's field name, e.g. `dm_ioctl.flags` or `spec[0].params`. */
  field: string;
  /** Its value as text (strings JSON-quoted, flags with their names). */
  value: string;
}

/** An ioctl request as `--dry-run --hex` shows it: its bytes with every field named. */
export interface AnnotatedRequest {
  /** The client command, e.g. `load`. */
  command: CommandName;
  /** What the request does, as its flags say: the command, except DM_DEV_SUSPEND without DM_SUSPEND_FLAG, which is `resume`. */
  operation: string;
  /** The kernel's name, e.g. `DM_TABLE_LOAD`. */
  ioctl: string;
  /** The ioctl request number in hex, e.g. `0xc138fd09`. */
  request: string;
  /** data_size: what the kernel is told the buffer holds, in bytes. */
  dataSizeBytes: number;
  /** The meaningful prefix: header + payload (the rest of the buffer is zero output space). */
  bytes: Uint8Array;
  /** Every field of the header and payload, in order. */
  fields: AnnotatedField[];
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const LE = codec.endian === 'little';

/** Each layout compiled once, in the host's byte order (the annotator reads what the codec reads). */
const compiled = new Map<Layout, StructCodec>();
function codecOf(layout: Layout): StructCodec {
  let c = compiled.get(layout);
  if (!c) { c = compile(layout); compiled.set(layout, c); }
  return c;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  return String(v);
}

function cString(b: Uint8Array, at: number, end: number): { text: string; next: number } {
  let e = at;
  while (e < end && b[e] !== 0) e++;
  return { text: new TextDecoder().decode(b.subarray(at, e)), next: Math.min(e + 1, end) };
}

/**
 * Every field of `layout` at `bytes[base]`, named `prefix.field`, with its value as the
 * layout's codec decodes it (arrays of any element type, char[N] within N-1 bytes, padding
 * shown as such). A flexible array member has no bytes of its own: the caller annotates
 * what follows the struct.
 */
export function annotateLayout(layout: Layout, bytes: Uint8Array, base: number, prefix: string): AnnotatedField[] {
  const values = codecOf(layout).decode(view(bytes), bytes, base) as Record<string, unknown>;
  const out: AnnotatedField[] = [];
  for (const f of layout.fields) {
    if (f.type.kind === 'flex') continue;
    let value = f.type.kind === 'pad' ? '(padding)' : show(values[f.name]);
    if (layout === dmIoctl && f.name === 'flags') {
      const n = Number(values[f.name]);
      const names = flagNames(n);
      value = `0x${n.toString(16).padStart(8, '0')}${names.length ? ` (${names.join(' | ')})` : ''}`;
    }
    if (layout === dmIoctl && f.name === 'dev') {
      const d = decodeDev(values[f.name] as bigint);
      value = `${value} (${d.major}:${d.minor})`;
    }
    out.push({ offsetBytes: base + f.offset, sizeBytes: f.size, field: `${prefix}.${f.name}`, value });
  }
  return out;
}

/** The fields after the header, by the row's request payload kind; returns them and where the meaningful bytes end. */
function payloadFields(kind: RequestPayload, command: CommandName, req: Uint8Array, h: ReturnType<typeof codec.decodeHeader>, showKeys: boolean): { fields: AnnotatedField[]; end: number } {
  const s = DM_DATA_START;
  const fields: AnnotatedField[] = [];
  switch (kind) {
    case 'none':
      return { fields, end: s };
    case 'table': {
      let at = s;
      let end = s;
      const params = dmTargetSpec.size;
      for (let i = 0; i < h.target_count; i++) {
        fields.push(...annotateLayout(dmTargetSpec, req, at, `spec[${i}]`));
        const next = view(req).getUint32(at + dmTargetSpec.offsetOf.next, LE);
        if (!showKeys) {
          let nul = at + params;
          while (nul < req.length && req[nul] !== 0) nul++;
          maskParamBytes(codec.records.spec.decode(view(req), req, at).target_type, req.subarray(at + params, nul));
        }
        const p = cString(req, at + params, req.length);
        fields.push({ offsetBytes: at + params, sizeBytes: p.next - (at + params), field: `spec[${i}].params`, value: JSON.stringify(p.text) });
        end = at + next;
        at += next;
      }
      return { fields, end };
    }
    case 'message': {
      fields.push(...annotateLayout(dmTargetMsg, req, s, 'dm_target_msg'));
      const text = s + dmTargetMsg.offsetOf.message;
      const p = cString(req, text, req.length);
      fields.push({ offsetBytes: text, sizeBytes: p.next - text, field: 'dm_target_msg.message', value: JSON.stringify(p.text) });
      return { fields, end: p.next };
    }
    case 'string': {
      const p = cString(req, s, req.length);
      const field = command === 'rename' ? (h.flags & C.DM_UUID_FLAG ? 'new_uuid' : 'new_name') : command === 'setGeometry' ? 'geometry' : 'string';
      fields.push({ offsetBytes: s, sizeBytes: p.next - s, field, value: JSON.stringify(p.text) });
      return { fields, end: p.next };
    }
    default:
      return unknownPayload(kind);
  }
}

/** The end of the exhaustive switch: a payload kind without a branch does not compile. */
function unknownPayload(kind: never): never {
  throw new Error(`no annotation for request payload ${String(kind)}`);
}

/**
 * Encodes `params` for `command` exactly as the client would send it, and annotates every
 * field. Key material of crypt/integrity lines is shown as '0's, like `dmctl table`,
 * unless `showKeys`.
 */
export function annotateRequest<Cmd extends CommandName>(command: Cmd, params: object, options: { showKeys?: boolean } = {}): AnnotatedRequest {
  const req = (codec.encodeRequest as (c: CommandName, p: object) => Uint8Array)(command, params);
  return annotateRequestBytes(command, req, options);
}

/**
 * Annotates request bytes already made (by {@link annotateRequest}, or read back from a
 * `--dry-run --hex` dump by {@link parseDryRunDump}): every field decoded from the bytes
 * themselves. Masks key material in `req` in place unless `showKeys`.
 */
export function annotateRequestBytes(command: CommandName, req: Uint8Array, options: { showKeys?: boolean } = {}): AnnotatedRequest {
  const h = codec.decodeHeader(req);
  const payload = payloadFields(COMMAND_TABLE[command].request, command, req, h, options.showKeys === true);
  const fields = [...annotateLayout(dmIoctl, req, 0, 'dm_ioctl'), ...payload.fields];
  let end = payload.end;
  end = Math.min(Math.max(end, DM_DATA_START), req.length);
  return {
    command,
    operation: command === 'suspend' && (h.flags & C.DM_SUSPEND_FLAG) === 0 ? 'resume' : command,
    ioctl: COMMAND_TABLE[command].kernelName,
    request: `0x${requestCode(command).toString(16)}`,
    dataSizeBytes: h.data_size,
    bytes: req.subarray(0, end),
    fields,
  };
}

function hexBytes(b: Uint8Array, from: number, to: number): string {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(b[i]!.toString(16).padStart(2, '0'));
  return out.join(' ');
}

/** The human dump: one line per field (long zero tails folded), offsets in hex. */
export function formatAnnotated(r: AnnotatedRequest): string {
  const lines = [`${r.ioctl} (${r.operation})  ioctl ${r.request}  data_size ${r.dataSizeBytes}  (${r.bytes.length} bytes shown${r.dataSizeBytes > r.bytes.length ? `, then ${r.dataSizeBytes - r.bytes.length} zero bytes of output space` : ''})`];
  const covered = new Set<number>();
  const W = 16;
  for (const f of r.fields) {
    let last = f.offsetBytes + f.sizeBytes;
    // Fold trailing zeros of long fields (names, uuids, padding).
    if (f.sizeBytes > W) {
      while (last > f.offsetBytes && r.bytes[last - 1] === 0) last--;
      last = Math.max(last, f.offsetBytes + Math.min(f.sizeBytes, 1));
    }
    for (let i = f.offsetBytes; i < f.offsetBytes + f.sizeBytes; i++) covered.add(i);
    let first = true;
    for (let at = f.offsetBytes; at < last; at += W) {
      const to = Math.min(at + W, last);
      const hex = hexBytes(r.bytes, at, to).padEnd(W * 3 - 1);
      lines.push(`  ${at.toString(16).padStart(4, '0')}  ${hex}  ${first ? `${f.field} = ${f.value}` : ''}`.trimEnd());
      first = false;
    }
    if (last < f.offsetBytes + f.sizeBytes) lines.push(`  ${last.toString(16).padStart(4, '0')}  ${`… ${f.offsetBytes + f.sizeBytes - last} zero bytes`.padEnd(W * 3 - 1)}  (${f.field} continued)`);
  }
  // Bytes no field covers (alignment padding between specs).
  let gapStart = -1;
  for (let i = 0; i <= r.bytes.length; i++) {
    const gap = i < r.bytes.length && !covered.has(i);
    if (gap && gapStart < 0) gapStart = i;
    if (!gap && gapStart >= 0) {
      lines.push(`  ${gapStart.toString(16).padStart(4, '0')}  ${hexBytes(r.bytes, gapStart, Math.min(i, gapStart + W)).padEnd(W * 3 - 1)}  (alignment padding, ${i - gapStart} bytes)`);
      gapStart = -1;
    }
  }
  return lines.join('\n');
}

export function toHex(b: Uint8Array): string {
  return hexBytes(b, 0, b.length).replace(/ /g, '');
}

/** Parses hex as people paste it: `c1 38 fd…`, `0xc138…`, strace's `"\x04\x00…"`, with any whitespace. */
export function parseHex(text: string): Uint8Array {
  let t = text.trim();
  if (t.startsWith('"') || t.includes('\\x')) t = t.replace(/["\s]/g, '').replace(/\\x/g, '');
  t = t.replace(/0x/gi, '').replace(/[\s:,]/g, '');
  if (t === '') throw new C.DmCodecError('INVALID_ARGUMENT', 'no hex bytes found in input (give the buffer as hex: an argument, or - to read it from stdin)', 'hex');
  if (!/^[0-9a-fA-F]*$/.test(t)) throw new C.DmCodecError('INVALID_ARGUMENT', 'not hex: expected pairs of hex digits (spaces, 0x and \\x prefixes allowed)', 'hex');
  if (t.length % 2 !== 0) throw new C.DmCodecError('INVALID_ARGUMENT', `not hex: an odd number of hex digits (${t.length}); every byte is two digits`, 'hex');
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** One request read back from a `--dry-run --hex` dump. */
export interface DumpedRequest {
  /** The client command its title line names, e.g. `load`. */
  command: CommandName;
  /** The bytes the dump shows (folded zero runs restored), as {@link AnnotatedRequest.bytes}. */
  bytes: Uint8Array;
  /** data_size as the title line states it. */
  size: number;
}

/** formatAnnotated's title line: `DM_TABLE_LOAD (load)  ioctl 0xc138fd09  data_size 360  (360 bytes shown…)`. */
const DUMP_TITLE = /^(DM_[A-Z_]+) \((\w+)\)\s+ioctl (0x[0-9a-f]+)\s+data_size (\d+)\s+\((\d+) bytes shown/;
/** One dump line: a hex offset, then either up to 16 hex bytes or a folded zero run, then the annotation. */
const DUMP_LINE = /^\s+([0-9a-f]{4,8})\s+(\S.*)$/;
const ZERO_RUN = /^… (\d+) zero bytes\b/;
/**
 * formatAnnotated folds the zero tail of one field longer than a line: the longest is
 * dm_ioctl.uuid (129 bytes); a larger run is not dmctl's output.
 */
const MAX_FOLDED_ZEROS = 4096;

function dumpError(line: number, message: string): C.DmCodecError {
  return new C.DmCodecError('INVALID_ARGUMENT', `line ${line} of the --dry-run --hex dump: ${message}`, 'hex');
}

/**
 * Reads `dmctl … --dry-run --hex` output back into bytes: one request per title line (a
 * verb may print several, separated by blank lines), each byte at the offset its line
 * names, `… N zero bytes` runs restored, annotations ignored (the bytes are decoded again,
 * not the text believed). Undefined when `text` has no title line (plain hex). The bytes
 * must agree with the title: the shown length, and data_size in the header.
 */
export function parseDryRunDump(text: string): DumpedRequest[] | undefined {
  const lines = text.split(/\r?\n/);
  if (!lines.some((l) => DUMP_TITLE.test(l.trim()))) return undefined;
  const out: DumpedRequest[] = [];
  // Segments are collected first and the request allocated once they cover it: the title's
  // byte count is only believed when the lines hold that many bytes (no allocation from a
  // number alone).
  let current: { command: CommandName; size: number; shown: number; segments: { at: number; bytes: Uint8Array }[]; title: number } | undefined;
  const finish = () => {
    if (!current) return;
    const { shown, segments, title } = current;
    segments.sort((a, b) => a.at - b.at);
    let covered = 0;
    for (const seg of segments) {
      if (seg.at > covered) break;
      covered = Math.max(covered, seg.at + seg.bytes.length);
    }
    if (covered < shown) throw dumpError(title, `the request's bytes from offset 0x${covered.toString(16)} are missing (its title says ${shown} bytes are shown): paste the whole dump`);
    const bytes = new Uint8Array(shown);
    for (const seg of segments) bytes.set(seg.bytes, seg.at);
    out.push({ command: current.command, bytes, size: current.size });
    current = undefined;
  };
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '') return;
    const title = DUMP_TITLE.exec(raw.trim());
    if (title) {
      finish();
      const command = resolveCommand(title[2]!);
      if (!command || COMMAND_TABLE[command].kernelName !== title[1]) throw dumpError(n, `unknown request ${title[1]} (${title[2]})`);
      const size = Number(title[4]);
      const shown = Number(title[5]);
      if (size > C.DM_MAX_DATA_SIZE || shown < DM_DATA_START || shown > size) throw dumpError(n, `${shown} bytes shown does not fit a request of data_size ${title[4]}`);
      current = { command, size, shown, segments: [], title: n };
      return;
    }
    const m = DUMP_LINE.exec(raw);
    if (!m || !current) throw dumpError(n, `not part of a dump: ${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw)}`);
    const at = parseInt(m[1]!, 16);
    const zeros = ZERO_RUN.exec(m[2]!);
    if (zeros && Number(zeros[1]) > MAX_FOLDED_ZEROS) throw dumpError(n, `a folded run of ${zeros[1]} zero bytes: dmctl folds no field that long`);
    const bytes = zeros ? new Uint8Array(Number(zeros[1])) : hexTokens(m[2]!);
    if (bytes.length === 0) throw dumpError(n, 'no hex bytes after the offset');
    if (at + bytes.length > current.shown) throw dumpError(n, `bytes at 0x${at.toString(16)}…0x${(at + bytes.length - 1).toString(16)} lie past the ${current.shown} bytes the title shows`);
    current.segments.push({ at, bytes });
  });
  finish();
  for (const r of out) {
    const h = codec.decodeHeader(r.bytes);
    if (h.data_size !== r.size) throw new C.DmCodecError('INVALID_ARGUMENT', `the ${COMMAND_TABLE[r.command].kernelName} dump's title says data_size ${r.size}, its dm_ioctl.data_size bytes say ${h.data_size}`, 'hex');
  }
  return out;
}

/** The leading two-digit hex tokens of a dump line (at most 16); the annotation follows them. */
function hexTokens(rest: string): Uint8Array {
  const tokens: number[] = [];
  for (const t of rest.trim().split(/\s+/)) {
    if (tokens.length === 16 || !/^[0-9a-f]{2}$/.test(t)) break;
    tokens.push(parseInt(t, 16));
  }
  return Uint8Array.from(tokens);
}

const ALIASES: Record<string, CommandName> = {
  ls: 'listDevices', list: 'listDevices', table: 'status', targets: 'listVersions', 'target-version': 'getTargetVersion',
  suspend: 'suspend', resume: 'suspend', reload: 'load', setgeometry: 'setGeometry', remove_all: 'removeAll',
};

/** A command by client name (`listDevices`), kernel name (`DM_LIST_DEVICES`, `LIST_DEVICES`) or dmsetup verb (`ls`). */
export function resolveCommand(name: string): CommandName | undefined {
  if (isCommand(name)) return name;
  const upper = name.toUpperCase().replace(/^DM_/, '');
  for (const c of COMMANDS) if (COMMAND_TABLE[c].kernelName.replace(/^DM_/, '') === upper) return c;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined; // `decode constructor` is no alias
}

/** JSON-safe: bigint → decimal string, typed arrays → hex. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

/**
 * Why `bytes` cannot hold a dm_ioctl header, in words: how many bytes the header needs, how
 * many there are, and the field the input stops in or before. Undefined when it fits.
 */
export function shortHeaderProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length >= DM_IOCTL_SIZE) return undefined;
  const cut = dmIoctl.fields.find((f) => bytes.length < f.offset + f.size)!;
  const where = bytes.length <= cut.offset
    ? `it ends before dm_ioctl.${cut.name} (offset ${cut.offset})`
    : `it ends inside dm_ioctl.${cut.name} (offset ${cut.offset}, ${cut.size} bytes)`;
  return `the dm_ioctl header needs ${DM_IOCTL_SIZE} bytes; the input has ${bytes.length}: ${where}`;
}

/** What {@link decodeReplyHex} gives (JSON-safe: 64-bit values as decimal strings, bytes as hex). */
export interface DecodedReply {
  /** The client command, e.g. `listDevices`. */
  command: string;
  /** The kernel's name, e.g. `DM_LIST_DEVICES`. */
  ioctl: string;
  /** The dm_ioctl header's fields, plus `flagNames`. */
  header: Record<string, unknown>;
  /** The codec's typed reply of the command. */
  reply: Record<string, unknown>;
}

/** `dmctl decode`: header fields plus the codec's typed reply. */
export function decodeReplyHex(command: CommandName, bytes: Uint8Array): DecodedReply {
  const short = shortHeaderProblem(bytes);
  if (short) throw new C.DmCodecError('MALFORMED_REPLY', short, 'dm_ioctl');
  const header = jsonSafe(codec.decodeHeader(bytes)) as Record<string, unknown>;
  header.flagNames = flagNames(Number(header.flags));
  const dataSize = Number(header.data_size);
  if (dataSize > bytes.length) {
    throw new C.DmCodecError('MALFORMED_REPLY', `the header's data_size says the buffer has ${dataSize} bytes; the input has ${bytes.length} (strace cuts strings at -s: use -s 65536)`, 'dm_ioctl.data_size');
  }
  const reply = jsonSafe(codec.decodeReply(command, bytes)) as Record<string, unknown>;
  return { command, ioctl: COMMAND_TABLE[command].kernelName, header, reply };
}
