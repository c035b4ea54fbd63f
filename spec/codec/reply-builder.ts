/**
 * Test helper: builds the reply buffer the kernel would write for each command, using only
 * the codec's record encoders (dm_ioctl, dm_target_spec, dm_name_list, …) and the rules of
 * docs/kernel-facts.md ("What each command writes back", "DM_BUFFER_FULL_FLAG") — never the decoders under test. The input is the value a decoder
 * should return, so `decodeReply(c, buildReply(c, x))` must equal `x`.
 */
import { viewOf, type DmCodec, type CommandName, type CommandReplies, type DeviceInfo, type Version } from '../../codec/index.js';

const START = 312;
const align8 = (n: number) => (n + 7) & ~7;
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
  bufferSize?: number;
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
  const len = Math.max(o.bufferSize ?? 0, needed, START);
  const bytes = new Uint8Array(len);
  let end = START;
  if (payload) end = payload(viewOf(bytes), bytes);
  const dataSize = dataSizeOverride ?? end;
  writeHeader(codec, bytes, { ...header, data_size: dataSize, flags: ((header.flags ?? 0) | (o.extraFlags ?? 0)) >>> 0 });
  if (o.fill !== undefined) bytes.fill(o.fill, Math.max(dataSize, 305), len);
  return bytes;
}

function nameListSize(r: CommandReplies['listDevices']): number {
  const trailer = r.version[0] > 4 || (r.version[0] === 4 && r.version[1] >= 37);
  let n = 0;
  for (const d of r.devices) {
    let sz = align8(12 + enc.encode(d.name).length + 1);
    if (trailer) {
      sz += 8;
      if (typeof d.uuid === 'string') sz += align8(enc.encode(d.uuid).length + 1);
    } else sz = Math.max(sz, 16);
    n += sz;
  }
  return Math.max(n, 16);
}

/** Builds the reply the kernel would write for `command` carrying exactly `r`. */
export function buildReply<C extends CommandName>(codec: DmCodec, command: C, reply: CommandReplies[C], o: BuildOptions = {}): Uint8Array {
  const rc = codec.records;
  const le = codec.endian === 'little';
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
      if (r.bufferFull) return assemble(codec, { version, flags: 1 << 8 }, null, START, o, 305);
      if (r.devices.length === 0) {
        // "Flags no data": nl->dev = 0, data_size = data_start.
        return assemble(codec, { version }, (v, b) => { rc.nameList.encode(v, b, START, { dev: 0n, next: 0 }); return START; }, START + 16, o);
      }
      const trailer = version[0] > 4 || (version[0] === 4 && version[1] >= 37);
      const withFlags = version[0] > 4 || (version[0] === 4 && version[1] >= 45);
      return assemble(codec, { version }, (v, b) => {
        let off = START;
        let prev = -1;
        for (const d of r.devices) {
          if (prev >= 0) v.setUint32(prev + 8, off - prev, le);
          rc.nameList.encode(v, b, off, { dev: d.dev.raw, next: 0 });
          const name = enc.encode(d.name);
          b.set(name, off + 12);
          b[off + 12 + name.length] = 0;
          let p = align8(off + 12 + name.length + 1);
          if (trailer && !withFlags) {
            // 4.37–4.44: event_nr only; the flags word of 4.45+ is left as the buffer held it.
            v.setUint32(p, d.eventNr ?? 0, le);
            p += 8;
          } else if (trailer) {
            const flags = d.uuid === undefined ? 0 : d.uuid === null ? 2 : 1;
            rc.trailer.encode(v, b, p, { event_nr: d.eventNr ?? 0, flags });
            p += 8;
            if (typeof d.uuid === 'string') {
              const u = enc.encode(d.uuid);
              b.set(u, p);
              b[p + u.length] = 0;
              p = align8(p + u.length + 1);
            }
          } else {
            p = Math.max(p, off + 16);
          }
          prev = off;
          off = p;
        }
        return off;
      }, START + nameListSize(r), o);
    }
    case 'listVersions': case 'getTargetVersion': {
      const r = reply as CommandReplies['listVersions'];
      if (r.bufferFull) return assemble(codec, { version, flags: 1 << 8 }, null, START, o, 305);
      const need = r.targets.reduce((n, t) => n + align8(16 + enc.encode(t.name).length + 1), 0);
      return assemble(codec, { version }, (v, b) => {
        let off = START;
        let prev = -1;
        for (const t of r.targets) {
          if (prev >= 0) v.setUint32(prev, off - prev, le);
          rc.versions.encode(v, b, off, { next: 0, version: [t.version[0], t.version[1], t.version[2]] });
          const name = enc.encode(t.name);
          b.set(name, off + 16);
          b[off + 16 + name.length] = 0;
          prev = off;
          off = align8(off + 16 + name.length + 1);
        }
        return off;
      }, START + need, o);
    }
    case 'message': {
      const r = reply as CommandReplies['message'];
      const flags = (r.dataOut ? 1 << 16 : 0) | (r.bufferFull ? 1 << 8 : 0);
      if (!r.dataOut || r.bufferFull || r.output === undefined) return assemble(codec, { version, flags }, null, START, o, START);
      const out = enc.encode(r.output);
      return assemble(codec, { version, flags }, (_v, b) => { b.set(out, START); b[START + out.length] = 0; return START + out.length + 1; }, START + out.length + 1, o);
    }
    case 'status': case 'wait': {
      const r = reply as CommandReplies['status'];
      const h: RawHeader = { version, ...deviceHeader(r.device), flags: (r.device.rawFlags | (r.bufferFull ? 1 << 8 : 0)) >>> 0 };
      const n = Math.min(o.written ?? r.targets.length, r.targets.length);
      const sizes = r.targets.slice(0, n).map((t) => align8(40 + enc.encode(t.params).length + 1));
      return assemble(codec, h, (v, b) => {
        let off = START;
        r.targets.slice(0, n).forEach((t, i) => {
          const next = off + sizes[i]! - START; // from data_start; the last points past its string
          rc.spec.encode(v, b, off, { sector_start: t.start, length: t.length, status: 0, next, target_type: t.type });
          const p = enc.encode(t.params);
          b.set(p, off + 40);
          b[off + 40 + p.length] = 0;
          off += sizes[i]!;
        });
        return off;
      }, START + sizes.reduce((a, c) => a + c, 0), o);
    }
    case 'deps': {
      const r = reply as CommandReplies['deps'];
      const h: RawHeader = { version, ...deviceHeader(r.device), flags: (r.device.rawFlags | (r.bufferFull ? 1 << 8 : 0)) >>> 0 };
      if (r.bufferFull) return assemble(codec, h, null, START, o, START);
      return assemble(codec, h, (v, b) => {
        rc.deps.encode(v, b, START, { count: r.deps.length, padding: 0 });
        r.deps.forEach((d, i) => v.setBigUint64(START + 8 + i * 8, d.raw, le));
        return START + 8 + r.deps.length * 8;
      }, START + 8 + r.deps.length * 8, o);
    }
    case 'remove': {
      // DEV_REMOVE writes the looked-up name/uuid and two flags, not __dev_status().
      const r = reply as CommandReplies['remove'];
      const flags = (r.deferred ? 1 << 17 : 0) | (r.ueventGenerated ? 1 << 13 : 0);
      return assemble(codec, { version, name: r.name, uuid: r.uuid ?? '', flags }, null, START, o, START);
    }
    default: {
      const r = reply as CommandReplies['info'];
      return assemble(codec, { version, ...deviceHeader(r.device) }, null, START, o, START);
    }
  }
}
