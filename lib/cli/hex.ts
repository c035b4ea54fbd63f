/**
 * `--dry-run --hex`: the exact request bytes annotated with the layout's field names, and
 * `dmctl decode`: a reply's bytes back to JSON. Fields are read by the codec compiled from
 * the same `struct()` declarations (codec/records.ts): offsets, sizes and element types
 * come from there, and what follows the header from the command's row.
 */
import {
  codec, COMMAND_TABLE, COMMANDS, compile, dmIoctl, dmTargetMsg, dmTargetSpec, decodeDev, isCommand, maskParamBytes, requestCode, DM_DATA_START,
  type CommandName, type Layout, type RequestPayload, type StructCodec,
} from '../../codec/index.js';
import * as C from '../../codec/index.js';

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
export interface AnnotatedField { offset: number; size: number; field: string; value: string }

/** An ioctl request as `--dry-run --hex` shows it: its bytes with every field named. */
export interface AnnotatedRequest {
  command: CommandName;
  ioctl: string;
  request: string;
  /** data_size: what the kernel is told the buffer holds. */
  size: number;
  /** The meaningful prefix: header + payload (the rest of the buffer is zero output space). */
  bytes: Uint8Array;
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
    out.push({ offset: base + f.offset, size: f.size, field: `${prefix}.${f.name}`, value });
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
        fields.push({ offset: at + params, size: p.next - (at + params), field: `spec[${i}].params`, value: JSON.stringify(p.text) });
        end = at + next;
        at += next;
      }
      return { fields, end };
    }
    case 'message': {
      fields.push(...annotateLayout(dmTargetMsg, req, s, 'dm_target_msg'));
      const text = s + dmTargetMsg.offsetOf.message;
      const p = cString(req, text, req.length);
      fields.push({ offset: text, size: p.next - text, field: 'dm_target_msg.message', value: JSON.stringify(p.text) });
      return { fields, end: p.next };
    }
    case 'string': {
      const p = cString(req, s, req.length);
      const field = command === 'rename' ? (h.flags & C.DM_UUID_FLAG ? 'new_uuid' : 'new_name') : command === 'setGeometry' ? 'geometry' : 'string';
      fields.push({ offset: s, size: p.next - s, field, value: JSON.stringify(p.text) });
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
  const h = codec.decodeHeader(req);
  const payload = payloadFields(COMMAND_TABLE[command].request, command, req, h, options.showKeys === true);
  const fields = [...annotateLayout(dmIoctl, req, 0, 'dm_ioctl'), ...payload.fields];
  let end = payload.end;
  end = Math.min(Math.max(end, DM_DATA_START), req.length);
  return {
    command,
    ioctl: COMMAND_TABLE[command].kernelName,
    request: `0x${requestCode(command).toString(16)}`,
    size: h.data_size,
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
  const lines = [`${r.ioctl} (${r.command})  ioctl ${r.request}  data_size ${r.size}  (${r.bytes.length} bytes shown${r.size > r.bytes.length ? `, then ${r.size - r.bytes.length} zero bytes of output space` : ''})`];
  const covered = new Set<number>();
  const W = 16;
  for (const f of r.fields) {
    let last = f.offset + f.size;
    // Fold trailing zeros of long fields (names, uuids, padding).
    if (f.size > W) {
      while (last > f.offset && r.bytes[last - 1] === 0) last--;
      last = Math.max(last, f.offset + Math.min(f.size, 1));
    }
    for (let i = f.offset; i < f.offset + f.size; i++) covered.add(i);
    let first = true;
    for (let at = f.offset; at < last; at += W) {
      const to = Math.min(at + W, last);
      const hex = hexBytes(r.bytes, at, to).padEnd(W * 3 - 1);
      lines.push(`  ${at.toString(16).padStart(4, '0')}  ${hex}  ${first ? `${f.field} = ${f.value}` : ''}`.trimEnd());
      first = false;
    }
    if (last < f.offset + f.size) lines.push(`  ${last.toString(16).padStart(4, '0')}  ${`… ${f.offset + f.size - last} zero bytes`.padEnd(W * 3 - 1)}  (${f.field} continued)`);
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
  if (!/^[0-9a-fA-F]*$/.test(t) || t.length % 2 !== 0) throw new C.DmCodecError('INVALID_ARGUMENT', 'not hex: expected pairs of hex digits (spaces, 0x and \\x prefixes allowed)', 'hex');
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(i * 2, i * 2 + 2), 16);
  return out;
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

/** `dmctl decode`: header fields plus the codec's typed reply. */
export function decodeReplyHex(command: CommandName, bytes: Uint8Array): { command: string; ioctl: string; header: Record<string, unknown>; reply: Record<string, unknown> } {
  const header = jsonSafe(codec.decodeHeader(bytes)) as Record<string, unknown>;
  header.flagNames = flagNames(Number(header.flags));
  const reply = jsonSafe(codec.decodeReply(command, bytes)) as Record<string, unknown>;
  return { command, ioctl: COMMAND_TABLE[command].kernelName, header, reply };
}
