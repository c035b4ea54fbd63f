/**
 * Test helper: builds the reply buffer the kernel would write for each command, using only
 * the codec's encoders (the dm_ioctl record, and the reply chains of codec/reply-chains.ts that the
 * simulator writes its replies with) and the rules of
 * docs/kernel-facts.md ("What each command writes back", "DM_BUFFER_FULL_FLAG") — never the decoders under test. The input is the value a decoder
 * should return, so `decodeReply(c, buildReply(c, x))` must equal `x`.
 */
import {
  dmNameList, dmTargetDeps, dmTargetSpec, nameRecordSize, targetVersionRecordSize, viewOf, writeCString, writeNameList, writeStatusChain, writeTargetDeps, writeTargetVersions, DM_BUFFER_FULL_FLAG, DM_DATA_OUT_FLAG,
  DM_DATA_START, DM_DEFERRED_REMOVE, DM_MIN_DATA_SIZE, DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID, DM_NAME_LIST_FLAG_HAS_UUID, DM_UEVENT_GENERATED_FLAG,
  type DmCodec, type CommandName, type CommandReplies, type DeviceInfo, type NameRecord, type Version,
} from '../../codec/index.js';

const START = DM_DATA_START;
const FULL = DM_BUFFER_FULL_FLAG;
const enc = new TextEncoder();

/** The raw header fields of a reply (dm-ioctl.h names). Missing fields are 0 / empty. */
export interface RawHeader {
  version: Version;
  data_size?: number;
  data_start?: number;
  target_count?: number;
  open_count?: number;
  flags?: number;
  event_nr?: number;
  dev?: bigint;
  name?: string;
  uuid?: string;
}

/** Writes a dm_ioctl header with the codec's own record encoder. */
export function writeHeader(codec: DmCodec, bytes: Uint8Array, h: RawHeader): void {
  codec.header.encode(viewOf(bytes), bytes, 0, {
    version: [h.version[0], h.version[1], h.version[2]],
    data_size: h.data_size ?? START,
    data_start: h.data_start ?? START,
    target_count: h.target_count ?? 0,
    open_count: h.open_count ?? 0,
    flags: h.flags ?? 0,
    event_nr: h.event_nr ?? 0,
    padding: 0,
    dev: h.dev ?? 0n,
    name: h.name ?? '',
    uuid: h.uuid ?? '',
  });
}

/** MKDEV as huge_encode_dev() does it, written independently of codec/dev.ts. */
export function mkdev(major: number, minor: number): bigint {
  return BigInt(minor & 0xff) | (BigInt(major) << 8n) | (BigInt(minor & ~0xff) << 12n);
}

/** The named reply flags, computed independently of codec/commands.ts. */
export function flagsOf(raw: number): DeviceInfo['flags'] {
  const b = (n: number) => (raw & (1 << n)) !== 0;
  return {
    readOnly: b(0), suspended: b(1), activePresent: b(5), inactivePresent: b(6), bufferFull: b(8),
    ueventGenerated: b(13), dataOut: b(16), deferredRemove: b(17), internalSuspend: b(18),
  };
}

function deviceHeader(d: DeviceInfo): Omit<RawHeader, 'version'> {
  return {
    target_count: d.targetCount, open_count: d.openCount, flags: d.rawFlags, event_nr: d.eventNr,
    dev: d.dev.raw, name: d.name, uuid: d.uuid ?? '',
  };
}

export interface BuildOptions {
  /** Buffer length (the request's data_size); at least what the reply needs. Default: exactly data_size (≥ 312). */
  bufferBytes?: number;
  /** Fill bytes beyond data_size with this value (poison). Default 0. */
  fill?: number;
  /** Extra flag bits ORed into the header (for the version-only and payload commands). */
  extraFlags?: number;
  /** For status/wait with bufferFull: how many of the targets the kernel managed to write (default: all). */
  written?: number;
}

/** A payload writer: returns the payload's end offset. */
type Payload = (view: DataView, bytes: Uint8Array) => number;

function assemble(codec: DmCodec, header: RawHeader, payload: Payload | null, needed: number, o: BuildOptions, dataSizeOverride?: number): Uint8Array {
  const len = Math.max(o.bufferBytes ?? 0, needed, START);
  const bytes = new Uint8Array(len);
  let end = START;
  if (payload) end = payload(viewOf(bytes), bytes);
  const dataSize = dataSizeOverride ?? end;
  writeHeader(codec, bytes, { ...header, data_size: dataSize, flags: ((header.flags ?? 0) | (o.extraFlags ?? 0)) >>> 0 });
  if (o.fill !== undefined) bytes.fill(o.fill, Math.max(dataSize, DM_MIN_DATA_SIZE), len);
  return bytes;
}

/** Builds the reply the kernel would write for `command` carrying exactly `r`. */
export function buildReply<C extends CommandName>(codec: DmCodec, command: C, reply: CommandReplies[C], o: BuildOptions = {}): Uint8Array {
  const rc = codec.records;
  const any = reply as CommandReplies[CommandName];
  const version = any.version;
  switch (command) {
    case 'version': case 'armPoll':
      return assemble(codec, { version }, null, START, o, START);
    case 'removeAll': case 'setGeometry':
      // The kernel sets data_size = 0: only the version is copied back.
      return assemble(codec, { version }, null, START, o, 0);
    case 'listDevices': {
      const r = reply as CommandReplies['listDevices'];
      if (r.bufferFull) return assemble(codec, { version, flags: FULL }, null, START, o, DM_MIN_DATA_SIZE);
      const trailer = version[0] > 4 || (version[0] === 4 && version[1] >= 37);
      const withFlags = version[0] > 4 || (version[0] === 4 && version[1] >= 45);
      const list: NameRecord[] = r.devices.map((d) => ({
        dev: d.dev.raw,
        name: enc.encode(d.name),
        // 4.37–4.44: event_nr only; the flags word of 4.45+ is left as the buffer held it.
        trailer: !trailer ? undefined : {
          eventNr: d.eventNr ?? 0,
          flags: !withFlags ? undefined : d.uuid === undefined ? 0 : d.uuid === null ? DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID : DM_NAME_LIST_FLAG_HAS_UUID,
          uuid: withFlags && typeof d.uuid === 'string' ? enc.encode(d.uuid) : undefined,
        },
      }));
      // An empty list is "flags no data" (nl->dev = 0, data_size = data_start).
      return assemble(codec, { version }, (v, b) => writeNameList(rc, v, b, START, list), START + Math.max(list.reduce((n, x) => n + nameRecordSize(x), 0), dmNameList.size), o);
    }
    case 'listVersions': case 'getTargetVersion': {
      const r = reply as CommandReplies['listVersions'];
      if (r.bufferFull) return assemble(codec, { version, flags: FULL }, null, START, o, DM_MIN_DATA_SIZE);
      const list = r.targets.map((t) => ({ name: enc.encode(t.name), version: t.version }));
      return assemble(codec, { version }, (v, b) => writeTargetVersions(rc, v, b, START, list), START + list.reduce((n, x) => n + targetVersionRecordSize(x), 0), o);
    }
    case 'message': {
      const r = reply as CommandReplies['message'];
      const flags = (r.dataOut ? DM_DATA_OUT_FLAG : 0) | (r.bufferFull ? FULL : 0);
      if (!r.dataOut || r.bufferFull || r.output === undefined) return assemble(codec, { version, flags }, null, START, o, START);
      const out = enc.encode(r.output);
      return assemble(codec, { version, flags }, (_v, b) => writeCString(b, START, out), START + out.length + 1, o);
    }
    case 'status': case 'wait': {
      const r = reply as CommandReplies['status'];
      const h: RawHeader = { version, ...deviceHeader(r.device), flags: (r.device.rawFlags | (r.bufferFull ? FULL : 0)) >>> 0 };
      const n = Math.min(o.written ?? r.targets.length, r.targets.length);
      const lines = r.targets.slice(0, n).map((t) => ({ start: t.start, length: t.length, type: t.type, text: enc.encode(t.params) }));
      // Room for every line and then some (text that exactly fills the room makes the kernel
      // report the buffer full): which lines it managed to write is `written`'s to say.
      const room = lines.reduce((a, l) => a + ((dmTargetSpec.size + l.text.length + 1 + 7) & ~7), 8);
      return assemble(codec, h, (v, b) => writeStatusChain(rc, v, b, START, room, lines).endOffsetBytes || START, START + room, o);
    }
    case 'deps': {
      const r = reply as CommandReplies['deps'];
      const h: RawHeader = { version, ...deviceHeader(r.device), flags: (r.device.rawFlags | (r.bufferFull ? FULL : 0)) >>> 0 };
      if (r.bufferFull) return assemble(codec, h, null, START, o, START);
      return assemble(codec, h, (v, b) => writeTargetDeps(rc, v, b, START, r.deps.map((d) => d.raw)), START + dmTargetDeps.size + r.deps.length * 8, o);
    }
    case 'remove': {
      // DEV_REMOVE writes the looked-up name/uuid and two flags, not __dev_status().
      const r = reply as CommandReplies['remove'];
      const flags = (r.deferred ? DM_DEFERRED_REMOVE : 0) | (r.ueventGenerated ? DM_UEVENT_GENERATED_FLAG : 0);
      return assemble(codec, { version, name: r.name, uuid: r.uuid ?? '', flags }, null, START, o, START);
    }
    default: {
      const r = reply as CommandReplies['info'];
      return assemble(codec, { version, ...deviceHeader(r.device) }, null, START, o, START);
    }
  }
}
