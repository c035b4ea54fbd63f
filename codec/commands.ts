/**
 * Typed request encoders and reply decoders for the 18 control commands.
 *
 * A request is validated completely before a byte is written. A reply decoder returns only
 * what the kernel writes back for that command (docs/kernel-facts.md, "What each command writes back"): VERSION, REMOVE_ALL,
 * SET_GEOMETRY and ARM_POLL give the version only; header commands give the device fields
 * `__dev_status()` fills; payload commands add their payload, read within
 * [data_start, data_size) of the reply.
 */
import { compile, viewOf, type CompileOptions, type StructCodec, type TemplateEncoder } from './layout.js';
import { dmIoctl, dmNameList, dmNameListTrailer, dmTargetDeps, dmTargetMsg, dmTargetSpec, dmTargetVersions, DM_NAME_LEN, DM_UUID_LEN } from './records.js';
import {
  DEFAULT_BUFFER_SIZE, DM_ACTIVE_PRESENT_FLAG, DM_BUFFER_FULL_FLAG, DM_DATA_OUT_FLAG, DM_DATA_START,
  DM_DEFERRED_REMOVE, DM_INACTIVE_PRESENT_FLAG, DM_INTERNAL_SUSPEND_FLAG, DM_IOCTL_SIZE,
  DM_MAX_DATA_SIZE, DM_MIN_DATA_SIZE, DM_READONLY_FLAG, DM_SUSPEND_FLAG,
  DM_UEVENT_GENERATED_FLAG, type Version,
} from './constants.js';
import { DmCodecError, malformed } from './errors.js';
import { decodeDev } from './dev.js';
import { findNul, rawIfLossy } from './text.js';
import { madeCopy } from './copies.js';
import { decodeDeps, decodeNameList, decodeString, decodeTargets, decodeVersions, type RecordCodecs } from './payload.js';
import { commandSpec, isCommand } from './command-table.js';
import type { CommandName, CommandReplies, CommandRequests, DeviceInfo, ReplyFlags, ReplyKinds } from './types.js';

/** Options of `encodeRequest`: buffer size, interface version, target buffer. */
export interface EncodeOptions {
  /** data_size for commands that return a payload (default 16 KiB); ignored by the others. */
  readonly bufferBytes?: number;
  /** The version to send (default: the command's minimum, as libdevmapper does). */
  readonly version?: Version;
  /** Encode into this buffer instead of allocating one; it must be large enough. */
  readonly into?: Uint8Array;
  /**
   * A DataView over exactly `into`, kept by a caller that encodes into the same buffer call
   * after call (making one per call was a large part of a DM_VERSION's own cost:
   * bench/README.md). With it, a request that fills `into` exactly is returned as `into`
   * itself rather than a subarray, and a header-only request (no payload) is written from a
   * template prepared once per version (`StructCodec.template`): the same bytes, or the same
   * error, as without it. Without it the general encoder writes every field.
   */
  readonly intoView?: DataView;
}

/** Options of `decodeReply` and `readVersion`. */
export interface DecodeOptions {
  /** A DataView over exactly the reply, kept by the caller (else one is made per call). */
  readonly view?: DataView;
}

const NO_OPTIONS: EncodeOptions = Object.freeze({});

/** Where the version (u32[3], written back on every reply, even a failed one) ends: data_size follows it. */
const VERSION_END = dmIoctl.offsetOf.data_size;

type HeaderInput = Parameters<StructCodec<(typeof dmIoctl)['declared']>['encode']>[3];
/** A header-only request's per-call fields; the rest are in the template. */
type HeaderTemplate = TemplateEncoder<Pick<HeaderInput, 'target_count' | 'flags' | 'event_nr' | 'dev' | 'name' | 'uuid'>>;

/** encodeRequest's rest parameters: params optional exactly when the command takes none; not exported (docs/api-reference.md). */
type ParamsArg<C extends CommandName> = Record<string, never> extends CommandRequests[C]
  ? [params?: CommandRequests[C], options?: EncodeOptions]
  : [params: CommandRequests[C], options?: EncodeOptions];

/** A codec for one byte order. `createCodec()` gives the host's; tests also build the other. */
export interface DmCodec {
  readonly endian: 'little' | 'big';
  readonly header: StructCodec<(typeof dmIoctl)['declared']>;
  readonly records: RecordCodecs;
  /** Validates the parameters and encodes a complete request buffer (`data_size` bytes long). */
  encodeRequest<C extends CommandName>(command: C, ...args: ParamsArg<C>): Uint8Array;
  /** Decodes what the kernel wrote back for `command` after a successful ioctl. */
  decodeReply<C extends CommandName>(command: C, reply: Uint8Array, options?: DecodeOptions): CommandReplies[C];
  /** The version the kernel writes back into every reply, even a failed one. */
  readVersion(reply: Uint8Array, options?: DecodeOptions): Version;
  /** The raw header fields (dm-ioctl.h names), for dumps and tests. */
  decodeHeader(buf: Uint8Array): ReturnType<StructCodec<(typeof dmIoctl)['declared']>['decode']>;
}

/** Compiles the codec of every command for one byte order (default: the host's). */
export function createCodec(options: CompileOptions = {}): DmCodec {
  const header = compile(dmIoctl, options);
  /**
   * A device reply's header: only the fields a DeviceInfo and the bounds check read (not the
   * version, read first on its own, nor data_start, padding and data), in one pass of generated
   * code from the same declaration. The header decode was ≈ 29 % of an infoSync
   * (bench/README.md); spec/codec/device-header.spec.ts checks it against `header.decode`.
   */
  const deviceHeader = header.pick(['data_size', 'target_count', 'open_count', 'flags', 'event_nr', 'dev', 'name', 'uuid']);
  const records: RecordCodecs = {
    spec: compile(dmTargetSpec, options),
    deps: compile(dmTargetDeps, options),
    nameList: compile(dmNameList, options),
    trailer: compile(dmNameListTrailer, options),
    versions: compile(dmTargetVersions, options),
    msg: compile(dmTargetMsg, options),
  };
  const le = header.endian === 'little';
  // One template per version: the command table's own minVersion arrays (constants) are found
  // by identity, in one lookup; a caller's `options.version` by its value, since the caller
  // may change its array between calls or pass a fresh one each time (a template compiles a
  // function: one per array would grow without bound).
  const templates = new Map<Version | string, HeaderTemplate>();
  const templateFor = (v: Version, given: boolean): HeaderTemplate | undefined => {
    let key: Version | string = v;
    if (given) {
      // A version the general encoder would refuse has no template: it then throws its own error.
      if (!Array.isArray(v) || v.length !== 3 || !v.every((n) => typeof n === 'number' && n >>> 0 === n)) return undefined;
      key = `${v[0]}.${v[1]}.${v[2]}`;
    }
    let t = templates.get(key);
    if (!t) {
      t = header.template({ version: [v[0], v[1], v[2]], data_size: DM_DATA_START, data_start: DM_DATA_START, open_count: 0, padding: 0 });
      templates.set(key, t);
    }
    return t;
  };

  // Plain parameters, not the interface's rest tuple: a rest array and its destructuring on
  // every call were a measurable part of a sync DM_VERSION (bench/README.md).
  function encodeRequest(command: CommandName, params: unknown = {}, opts: EncodeOptions = NO_OPTIONS): Uint8Array {
    return encodeWith(command, params, opts.version, opts.bufferBytes, opts.into, opts.intoView);
  }

  function encodeWith(
    command: CommandName, params: unknown, version: Version | undefined, bufferBytes: number | undefined,
    into: Uint8Array | undefined, intoView: DataView | undefined,
  ): Uint8Array {
    if (!isCommand(command)) throw new DmCodecError('UNKNOWN_COMMAND', `unknown command ${String(command)}`);
    const spec = commandSpec(command);
    if (params === null || typeof params !== 'object') {
      throw new DmCodecError('INVALID_ARGUMENT', `${command}: parameters must be an object`);
    }
    const v = version ?? spec.minVersion;
    const plan = spec.plan(params as never, records);
    // The planner's copies (escaped params, message text) may hold key material: they are
    // wiped whatever happens below — a buffer too small, a size out of range, or success.
    try {
      const needed = DM_DATA_START + plan.payloadBytes;
      let dataSize = needed;
      if (spec.payload) {
        const requested = bufferBytes ?? DEFAULT_BUFFER_SIZE;
        checkDataSize(requested);
        dataSize = Math.max(requested, needed);
      }
      checkDataSize(dataSize);
      const length = Math.max(dataSize, DM_IOCTL_SIZE);
      let bytes: Uint8Array;
      if (into) {
        if (into.length < length) {
          throw new DmCodecError('BUFFER_TOO_SMALL', `${command}: the request needs ${length} bytes, the buffer has ${into.length}`);
        }
        bytes = into;
      } else {
        bytes = madeCopy(new Uint8Array(length));
      }
      const view = intoView ?? viewOf(bytes);
      // A caller that keeps its view gets `into` itself back when the request fills it.
      const whole = intoView !== undefined;
      // A header-only request from its template; the template encoder declines (writing
      // nothing) a value it cannot write as the general encoder would, which then writes it.
      const template = whole && spec.request === 'none' && !spec.payload && length === DM_IOCTL_SIZE && dataSize === DM_DATA_START
        && plan.payloadBytes === 0 && !plan.writePayload ? templateFor(v, version !== undefined) : undefined;
      if (template?.encode(view, bytes, 0, {
        target_count: plan.targetCount, flags: plan.flags, event_nr: plan.eventNr, dev: plan.dev, name: plan.name, uuid: plan.uuid,
      })) {
        return into && !(whole && length === into.length) ? bytes.subarray(0, length) : bytes;
      }
      const h: HeaderInput = {
        version: [v[0], v[1], v[2]],
        data_size: dataSize,
        data_start: DM_DATA_START,
        target_count: plan.targetCount,
        open_count: 0,
        flags: plan.flags,
        event_nr: plan.eventNr,
        padding: 0,
        dev: plan.dev,
        name: plan.name,
        uuid: plan.uuid,
      };
      header.encode(view, bytes, 0, h);
      if (plan.writePayload) plan.writePayload(view, bytes, DM_DATA_START);
      // No stale bytes, by construction: the kernel copies all data_size bytes in and back, and
      // a field it fills only partly (target_type on Debian's 6.1: strncpy of 15 bytes) keeps what the buffer
      // held (docs/kernel-facts.md, "Stale bytes"). A reused buffer is zero after the payload.
      if (into) bytes.fill(0, DM_DATA_START + plan.payloadBytes, length);
      return into && !(whole && length === into.length) ? bytes.subarray(0, length) : bytes;
    } finally {
      plan.wipe?.();
    }
  }

  function readVersion(reply: Uint8Array, view: DataView = viewOf(reply)): Version {
    if (reply.length < VERSION_END) throw malformed(`a reply needs at least ${VERSION_END} bytes for the version, got ${reply.length}`, 'dm_ioctl.version');
    const at = dmIoctl.offsetOf.version;
    return [view.getUint32(at, le), view.getUint32(at + 4, le), view.getUint32(at + 8, le)];
  }

  function decodeHeader(buf: Uint8Array, view: DataView = viewOf(buf)) {
    if (buf.length < DM_IOCTL_SIZE) throw malformed(`a dm_ioctl header needs ${DM_IOCTL_SIZE} bytes, got ${buf.length}`, 'dm_ioctl');
    return header.decode(view, buf, 0);
  }

  function decodeReply<C extends CommandName>(command: C, reply: Uint8Array, options?: DecodeOptions): CommandReplies[C] {
    return decodeAny(command, reply, options?.view ?? viewOf(reply)) as CommandReplies[C];
  }

  /** `view`: a DataView over exactly `reply` (one per reply; internal callers pass one they keep). */
  function decodeAny(command: CommandName, reply: Uint8Array, view: DataView): CommandReplies[CommandName] {
    if (!isCommand(command)) throw new DmCodecError('UNKNOWN_COMMAND', `unknown command ${String(command)}`);
    const version = readVersion(reply, view);
    const kind = commandSpec(command).reply;
    if (kind === 'version') return { version } satisfies ReplyKinds['version'];
    if (kind === 'device') {
      if (reply.length < DM_IOCTL_SIZE) throw malformed(`a dm_ioctl header needs ${DM_IOCTL_SIZE} bytes, got ${reply.length}`, 'dm_ioctl');
      const d = deviceHeader(view, reply, 0);
      checkReplyDataSize(d.data_size, reply.length);
      return { version, device: deviceInfo(d, reply) } satisfies ReplyKinds['device'];
    }
    const h = decodeHeader(reply, view);
    checkReplyDataSize(h.data_size, reply.length);
    const bufferFull = (h.flags & DM_BUFFER_FULL_FLAG) !== 0;
    // The payload bounds: [data_start, data_size). An empty payload is data_size <= data_start.
    const payload = (): [number, number] => {
      if (h.data_size <= DM_MIN_DATA_SIZE + 7 && h.data_size <= h.data_start) return [DM_DATA_START, DM_DATA_START];
      if (h.data_start < DM_MIN_DATA_SIZE || h.data_start > h.data_size) {
        throw malformed(`reply data_start ${h.data_start} is outside ${DM_MIN_DATA_SIZE}…${h.data_size}`, 'dm_ioctl.data_start');
      }
      return [h.data_start, h.data_size];
    };
    switch (kind) {
      case 'names': {
        const [s, e] = bufferFull ? [0, 0] : payload();
        return { version, bufferFull, devices: bufferFull ? [] : decodeNameList(records, view, reply, s, e, version) } satisfies ReplyKinds['names'];
      }
      case 'versions': {
        const [s, e] = bufferFull ? [0, 0] : payload();
        return { version, bufferFull, targets: bufferFull ? [] : decodeVersions(records, view, reply, s, e) } satisfies ReplyKinds['versions'];
      }
      case 'message': {
        const dataOut = (h.flags & DM_DATA_OUT_FLAG) !== 0;
        let output: string | undefined;
        if (dataOut && !bufferFull) {
          const [s, e] = payload();
          output = decodeString(reply, s, e, 'message output');
        }
        return { version, bufferFull, dataOut, output } satisfies ReplyKinds['message'];
      }
      case 'removed': {
        const out: ReplyKinds['removed'] & { nameBytes?: Uint8Array; uuidBytes?: Uint8Array } = {
          version, name: h.name, uuid: h.uuid === '' ? null : h.uuid,
          deferred: (h.flags & DM_DEFERRED_REMOVE) !== 0,
          ueventGenerated: (h.flags & DM_UEVENT_GENERATED_FLAG) !== 0,
        };
        addRawNames(out, h, reply);
        return out;
      }
      case 'targets': {
        const device = deviceInfo(h, reply);
        const [s, e] = payload();
        const targets = decodeTargets(records, view, reply, s, e, h.target_count, bufferFull);
        return { version, device, bufferFull, targets } satisfies ReplyKinds['targets'];
      }
      case 'deps': {
        const device = deviceInfo(h, reply);
        const [s, e] = bufferFull ? [0, 0] : payload();
        // No table: the kernel writes no dm_target_deps at all (data_size stays 305).
        if (e <= s) return { version, device, bufferFull, deps: [] } satisfies ReplyKinds['deps'];
        return { version, device, bufferFull, deps: decodeDeps(records, view, reply, s, e, le) } satisfies ReplyKinds['deps'];
      }
      default:
        return unknownKind(kind);
    }
  }

  return {
    endian: header.endian, header, records, encodeRequest: encodeRequest as DmCodec['encodeRequest'], decodeReply,
    readVersion: (reply: Uint8Array, options?: DecodeOptions) => readVersion(reply, options?.view),
    decodeHeader: (buf: Uint8Array) => decodeHeader(buf),
  };
}

/** The end of an exhaustive switch over reply kinds: a kind without a branch does not compile. */
function unknownKind(kind: never): never {
  throw new DmCodecError('UNKNOWN_COMMAND', `no decoder for reply kind ${String(kind)}`);
}

/** A reply's data_size must cover the header's fixed part and stay within the buffer. */
function checkReplyDataSize(dataSize: number, bufferBytes: number): void {
  if (dataSize < DM_MIN_DATA_SIZE || dataSize > bufferBytes) {
    throw malformed(`reply data_size ${dataSize} is outside ${DM_MIN_DATA_SIZE}…${bufferBytes} (the buffer)`, 'dm_ioctl.data_size');
  }
}

function checkDataSize(n: number): void {
  if (!Number.isInteger(n) || n < DM_MIN_DATA_SIZE || n > DM_MAX_DATA_SIZE) {
    throw new DmCodecError('DATA_SIZE_OUT_OF_RANGE', `data_size must be an integer in ${DM_MIN_DATA_SIZE}…${DM_MAX_DATA_SIZE}, got ${n}`, 'data_size');
  }
}

/** The named out-flags of a reply. */
export function replyFlags(flags: number): ReplyFlags {
  return {
    readOnly: (flags & DM_READONLY_FLAG) !== 0,
    suspended: (flags & DM_SUSPEND_FLAG) !== 0,
    activePresent: (flags & DM_ACTIVE_PRESENT_FLAG) !== 0,
    inactivePresent: (flags & DM_INACTIVE_PRESENT_FLAG) !== 0,
    bufferFull: (flags & DM_BUFFER_FULL_FLAG) !== 0,
    ueventGenerated: (flags & DM_UEVENT_GENERATED_FLAG) !== 0,
    dataOut: (flags & DM_DATA_OUT_FLAG) !== 0,
    deferredRemove: (flags & DM_DEFERRED_REMOVE) !== 0,
    internalSuspend: (flags & DM_INTERNAL_SUSPEND_FLAG) !== 0,
  };
}

const NAME_OFFSET = dmIoctl.offsetOf.name;
const UUID_OFFSET = dmIoctl.offsetOf.uuid;

/**
 * Adds `nameBytes` / `uuidBytes` when the header's name or uuid is not UTF-8, so the
 * device can be addressed again (the decoded string then holds U+FFFD).
 */
function addRawNames(out: { nameBytes?: Uint8Array; uuidBytes?: Uint8Array }, h: { name: string; uuid: string }, reply: Uint8Array): void {
  const n = rawField(h.name, reply, NAME_OFFSET, DM_NAME_LEN);
  if (n) out.nameBytes = n;
  const u = rawField(h.uuid, reply, UUID_OFFSET, DM_UUID_LEN);
  if (u) out.uuidBytes = u;
}

/** The raw bytes of a char[n] header field when its decoding was lossy (read as readChar does: n-1 bytes at most). */
function rawField(decoded: string, reply: Uint8Array, off: number, n: number): Uint8Array | undefined {
  if (decoded.indexOf('\uFFFD') < 0) return undefined;
  const nul = findNul(reply, off, off + n - 1);
  return rawIfLossy(decoded, reply, off, nul < 0 ? off + n - 1 : nul);
}

function deviceInfo(h: { name: string; uuid: string; dev: bigint; open_count: number; event_nr: number; target_count: number; flags: number }, reply: Uint8Array): DeviceInfo {
  const info: DeviceInfo & { nameBytes?: Uint8Array; uuidBytes?: Uint8Array } = {
    name: h.name,
    uuid: h.uuid === '' ? null : h.uuid, // the kernel's empty uuid: "none", null as in list() and events
    dev: decodeDev(h.dev),
    openCount: h.open_count,
    eventNr: h.event_nr,
    targetCount: h.target_count,
    flags: replyFlags(h.flags),
    rawFlags: h.flags,
  };
  addRawNames(info, h, reply);
  return info;
}
