/**
 * Typed request encoders and reply decoders for the 18 control commands.
 *
 * A request is validated completely before a byte is written. A reply decoder returns only
 * what the kernel writes back for that command (dm-ioctl.md §A.5): VERSION, REMOVE_ALL,
 * SET_GEOMETRY and ARM_POLL give the version only; header commands give the device fields
 * `__dev_status()` fills; payload commands add their payload, read within
 * [data_start, data_size) of the reply.
 */
import { compile, viewOf, type CompileOptions, type StructCodec } from './layout.js';
import { dmIoctl, dmNameList, dmNameListTrailer, dmTargetDeps, dmTargetMsg, dmTargetSpec, dmTargetVersions, DM_NAME_LEN, DM_UUID_LEN } from './records.js';
import {
  COMMANDS, DEFAULT_BUFFER_SIZE, DM_ACTIVE_PRESENT_FLAG, DM_BUFFER_FULL_FLAG, DM_DATA_OUT_FLAG, DM_DATA_START,
  DM_DEFERRED_REMOVE, DM_IMA_MEASUREMENT_FLAG, DM_INACTIVE_PRESENT_FLAG, DM_INTERNAL_SUSPEND_FLAG, DM_IOCTL_SIZE,
  DM_MAX_DATA_SIZE, DM_MIN_DATA_SIZE, DM_NOFLUSH_FLAG, DM_PERSISTENT_DEV_FLAG, DM_QUERY_INACTIVE_TABLE_FLAG,
  DM_READONLY_FLAG, DM_SECURE_DATA_FLAG, DM_SKIP_LOCKFS_FLAG, DM_STATUS_TABLE_FLAG, DM_SUSPEND_FLAG,
  DM_UEVENT_GENERATED_FLAG, DM_UUID_FLAG, MIN_VERSION, type CommandName, type Version,
} from './constants.js';
import { DmCodecError, malformed } from './errors.js';
import { decodeDev, encodeDev } from './dev.js';
import { findNul, rawIfLossy, utf8Encode } from './text.js';
import { madeCopy } from './copies.js';
import { checkBool, checkCString, checkInt, checkName, checkPrefix, checkU64, checkUuid } from './validate.js';
import {
  decodeDeps, decodeNameList, decodeString, decodeTargets, decodeVersions, encodeMessage, encodeString, encodeTable,
  prepareTable, wipePreparedTable, type RecordCodecs,
} from './payload.js';
import type { CommandReplies, CommandRequests, DeviceId, DeviceInfo, ReplyFlags } from './types.js';

/** Commands whose reply carries a payload: their buffer is `bufferSize` bytes, not just what the request needs. */
export const PAYLOAD_COMMANDS: ReadonlySet<CommandName> = new Set<CommandName>([
  'listDevices', 'wait', 'deps', 'status', 'listVersions', 'message', 'getTargetVersion',
]);

/** Options of `encodeRequest`: buffer size, interface version, target buffer. */
export interface EncodeOptions {
  /** data_size for commands that return a payload (default 16 KiB); ignored by the others. */
  readonly bufferSize?: number;
  /** The version to send (default: the command's minimum, as libdevmapper does). */
  readonly version?: Version;
  /** Encode into this buffer instead of allocating one; it must be large enough. */
  readonly into?: Uint8Array;
}

type HeaderInput = Parameters<StructCodec<(typeof dmIoctl)['declared']>['encode']>[3];

/** Everything a request needs besides the header: validated payload and header fields. */
interface Plan {
  flags: number;
  eventNr: number;
  targetCount: number;
  dev: bigint;
  /** A string goes out as UTF-8, bytes exactly as given. */
  name: string | Uint8Array;
  uuid: string | Uint8Array;
  /** Payload bytes after data_start. */
  payloadSize: number;
  writePayload?: (view: DataView, bytes: Uint8Array, start: number) => void;
  /** Zero-fills the copies of caller data the planner made (table params, message text). */
  wipe?: () => void;
}

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
  decodeReply<C extends CommandName>(command: C, reply: Uint8Array): CommandReplies[C];
  /** The version the kernel writes back into every reply, even a failed one. */
  readVersion(reply: Uint8Array): Version;
  /** The raw header fields (dm-ioctl.h names), for dumps and tests. */
  decodeHeader(buf: Uint8Array): ReturnType<StructCodec<(typeof dmIoctl)['declared']>['decode']>;
}

/** Compiles the codec of every command for one byte order (default: the host's). */
export function createCodec(options: CompileOptions = {}): DmCodec {
  const header = compile(dmIoctl, options);
  const records: RecordCodecs = {
    spec: compile(dmTargetSpec, options),
    deps: compile(dmTargetDeps, options),
    nameList: compile(dmNameList, options),
    trailer: compile(dmNameListTrailer, options),
    versions: compile(dmTargetVersions, options),
    msg: compile(dmTargetMsg, options),
  };
  const le = header.endian === 'little';

  function encodeRequest<C extends CommandName>(command: C, ...args: ParamsArg<C>): Uint8Array {
    const [params = {} as CommandRequests[C], opts = {}] = args;
    if (!COMMANDS.includes(command)) throw new DmCodecError('UNKNOWN_COMMAND', `unknown command ${String(command)}`);
    if (params === null || typeof params !== 'object') {
      throw new DmCodecError('INVALID_ARGUMENT', `${command}: parameters must be an object`);
    }
    const version = opts.version ?? MIN_VERSION[command];
    const plan = PLANNERS[command](params as never, records);
    // The planner's copies (escaped params, message text) may hold key material: they are
    // wiped whatever happens below — a buffer too small, a size out of range, or success.
    try {
      const needed = DM_DATA_START + plan.payloadSize;
      let dataSize = needed;
      if (PAYLOAD_COMMANDS.has(command)) {
        const requested = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
        checkDataSize(requested);
        dataSize = Math.max(requested, needed);
      }
      checkDataSize(dataSize);
      const length = Math.max(dataSize, DM_IOCTL_SIZE);
      let bytes: Uint8Array;
      if (opts.into) {
        if (opts.into.length < length) {
          throw new DmCodecError('BUFFER_TOO_SMALL', `${command}: the request needs ${length} bytes, the buffer has ${opts.into.length}`);
        }
        bytes = opts.into;
      } else {
        bytes = madeCopy(new Uint8Array(length));
      }
      const view = viewOf(bytes);
      const h: HeaderInput = {
        version: [version[0], version[1], version[2]],
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
      if (opts.into) bytes.fill(0, DM_DATA_START + plan.payloadSize, length);
      return opts.into ? bytes.subarray(0, length) : bytes;
    } finally {
      plan.wipe?.();
    }
  }

  function readVersion(reply: Uint8Array, view: DataView = viewOf(reply)): Version {
    if (reply.length < 12) throw malformed(`a reply needs at least 12 bytes for the version, got ${reply.length}`, 'dm_ioctl.version');
    return [view.getUint32(0, le), view.getUint32(4, le), view.getUint32(8, le)];
  }

  function decodeHeader(buf: Uint8Array, view: DataView = viewOf(buf)) {
    if (buf.length < DM_IOCTL_SIZE) throw malformed(`a dm_ioctl header needs ${DM_IOCTL_SIZE} bytes, got ${buf.length}`, 'dm_ioctl');
    return header.decode(view, buf, 0);
  }

  function decodeReply<C extends CommandName>(command: C, reply: Uint8Array): CommandReplies[C] {
    return decodeAny(command, reply) as CommandReplies[C];
  }

  function decodeAny(command: CommandName, reply: Uint8Array): CommandReplies[CommandName] {
    if (!COMMANDS.includes(command)) throw new DmCodecError('UNKNOWN_COMMAND', `unknown command ${String(command)}`);
    // One DataView per reply (bench:live: a view per read was a visible cost per call).
    const view = viewOf(reply);
    const version = readVersion(reply, view);
    switch (command) {
      case 'version': case 'removeAll': case 'setGeometry': case 'armPoll':
        return { version };
    }
    const h = decodeHeader(reply, view);
    if (h.data_size < DM_MIN_DATA_SIZE || h.data_size > reply.length) {
      throw malformed(`reply data_size ${h.data_size} is outside 305…${reply.length} (the buffer)`, 'dm_ioctl.data_size');
    }
    const bufferFull = (h.flags & DM_BUFFER_FULL_FLAG) !== 0;
    // The payload bounds: [data_start, data_size). An empty payload is data_size <= data_start.
    const payload = (): [number, number] => {
      if (h.data_size <= DM_MIN_DATA_SIZE + 7 && h.data_size <= h.data_start) return [DM_DATA_START, DM_DATA_START];
      if (h.data_start < DM_MIN_DATA_SIZE || h.data_start > h.data_size) {
        throw malformed(`reply data_start ${h.data_start} is outside 305…${h.data_size}`, 'dm_ioctl.data_start');
      }
      return [h.data_start, h.data_size];
    };
    switch (command) {
      case 'listDevices': {
        const [s, e] = bufferFull ? [0, 0] : payload();
        return { version, bufferFull, devices: bufferFull ? [] : decodeNameList(records, view, reply, s, e, version) };
      }
      case 'listVersions': case 'getTargetVersion': {
        const [s, e] = bufferFull ? [0, 0] : payload();
        return { version, bufferFull, targets: bufferFull ? [] : decodeVersions(records, view, reply, s, e) };
      }
      case 'message': {
        const dataOut = (h.flags & DM_DATA_OUT_FLAG) !== 0;
        let output: string | undefined;
        if (dataOut && !bufferFull) {
          const [s, e] = payload();
          output = decodeString(reply, s, e, 'message output');
        }
        return { version, bufferFull, dataOut, output };
      }
    }
    if (command === 'remove') {
      const out: CommandReplies['remove'] & { nameBytes?: Uint8Array; uuidBytes?: Uint8Array } = {
        version, name: h.name, uuid: h.uuid,
        deferred: (h.flags & DM_DEFERRED_REMOVE) !== 0,
        ueventGenerated: (h.flags & DM_UEVENT_GENERATED_FLAG) !== 0,
      };
      addRawNames(out, h, reply);
      return out;
    }
    const device = deviceInfo(h, reply);
    switch (command) {
      case 'status': case 'wait': {
        const [s, e] = payload();
        const targets = decodeTargets(records, view, reply, s, e, h.target_count, bufferFull);
        return { version, device, bufferFull, targets };
      }
      case 'deps': {
        const [s, e] = bufferFull ? [0, 0] : payload();
        // No table: the kernel writes no dm_target_deps at all (data_size stays 305).
        if (e <= s) return { version, device, bufferFull, deps: [] };
        return { version, device, bufferFull, deps: decodeDeps(records, view, reply, s, e, le) };
      }
      default:
        return { version, device };
    }
  }

  // The public forms take the buffer only (the view parameter is internal).
  return {
    endian: header.endian, header, records, encodeRequest, decodeReply,
    readVersion: (reply: Uint8Array) => readVersion(reply), decodeHeader: (buf: Uint8Array) => decodeHeader(buf),
  };
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
    uuid: h.uuid,
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

// ---------------------------------------------------------------- request planners ---

function idFields(id: unknown): Pick<Plan, 'name' | 'uuid' | 'dev'> {
  const bad = (why: string) => new DmCodecError('INVALID_DEVICE_ID', `a device is addressed by exactly one of name, uuid or dev: ${why}`, 'id');
  if (id === null || typeof id !== 'object') throw bad('got ' + String(id));
  const o = id as Record<string, unknown>;
  const given = (['name', 'uuid', 'dev'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) throw bad(given.length === 0 ? 'none given' : `got ${given.join(' and ')}`);
  if (o.name !== undefined) return { name: checkName(o.name, 'id.name'), uuid: '', dev: 0n };
  if (o.uuid !== undefined) return { name: '', uuid: checkUuid(o.uuid, 'id.uuid'), dev: 0n };
  const d = o.dev as { major?: unknown; minor?: unknown } | null;
  if (d === null || typeof d !== 'object') throw bad('dev must be { major, minor }');
  return { name: '', uuid: '', dev: encodeDev(d.major as number, d.minor as number) };
}

function cookie(v: unknown): number {
  return v === undefined ? 0 : checkInt(v, 'cookie', 0, 0xffffffff);
}

const NO_ID: Pick<Plan, 'name' | 'uuid' | 'dev'> = { name: '', uuid: '', dev: 0n };

/**
 * A plan as one object literal. Planners do not spread (`{ ...EMPTY, ...id, flags }`):
 * V8 (Node 20) takes a slow path of ≈ 1 µs per object for a spread followed by more
 * properties, which was most of a sync call's cost (bench/README.md, live bench).
 */
function plan(flags: number, id: Pick<Plan, 'name' | 'uuid' | 'dev'> = NO_ID, eventNr = 0): Plan {
  return { flags, eventNr, targetCount: 0, dev: id.dev, name: id.name, uuid: id.uuid, payloadSize: 0, writePayload: undefined };
}

function flagIf(on: unknown, field: string, flag: number): number {
  return checkBool(on, field) ? flag : 0;
}

const PLANNERS: { [C in CommandName]: (p: CommandRequests[C], rc: RecordCodecs) => Plan } = {
  version: () => plan(0),
  armPoll: () => plan(0),
  listVersions: () => plan(0),
  removeAll: (p) => plan(flagIf(p.deferred, 'deferred', DM_DEFERRED_REMOVE)),
  listDevices: (p) => {
    const flags = flagIf(p.withUuid, 'withUuid', DM_UUID_FLAG);
    // On 4.45+ name/uuid are prefix filters: empty means "all devices".
    const name = p.namePrefix === undefined ? '' : checkPrefix(p.namePrefix, 'namePrefix', DM_NAME_LEN - 1);
    const uuid = p.uuidPrefix === undefined ? '' : checkPrefix(p.uuidPrefix, 'uuidPrefix', DM_UUID_LEN - 1);
    return plan(flags, { name, uuid, dev: 0n });
  },
  create: (p) => {
    const name = checkName(p.name);
    const uuid = p.uuid === undefined ? '' : checkUuid(p.uuid);
    if (p.minor === undefined) {
      if (p.major !== undefined) throw new DmCodecError('INVALID_ARGUMENT', 'major is only meaningful with minor', 'major');
      return plan(0, { name, uuid, dev: 0n });
    }
    const dev = encodeDev(p.major ?? 0, checkInt(p.minor, 'minor', 0, 0xfffff));
    return plan(DM_PERSISTENT_DEV_FLAG, { name, uuid, dev });
  },
  remove: (p) => {
    const id = idFields(p.id);
    const flags = flagIf(p.deferred, 'deferred', DM_DEFERRED_REMOVE);
    return plan(flags, id, cookie(p.cookie));
  },
  rename: (p) => {
    const name = checkName(p.name, 'name');
    if ((p.newName === undefined) === (p.newUuid === undefined)) {
      throw new DmCodecError('INVALID_ARGUMENT', 'rename needs exactly one of newName or newUuid', 'newName');
    }
    const target = p.newName !== undefined ? checkName(p.newName, 'newName') : checkUuid(p.newUuid, 'newUuid');
    const bytes = typeof target === 'string' ? utf8Encode(target) : target;
    const pl = plan(p.newUuid !== undefined ? DM_UUID_FLAG : 0, { name, uuid: '', dev: 0n }, cookie(p.cookie));
    pl.payloadSize = bytes.length + 1;
    pl.writePayload = (_v, b, s) => { encodeString(b, s, bytes); };
    return pl;
  },
  suspend: (p) => {
    if (p.action !== 'suspend' && p.action !== 'resume') {
      throw new DmCodecError('INVALID_ARGUMENT', `action must be 'suspend' or 'resume', got ${String(p.action)}`, 'action');
    }
    const id = idFields(p.id);
    const flags = (p.action === 'suspend' ? DM_SUSPEND_FLAG : 0)
      | flagIf(p.noflush, 'noflush', DM_NOFLUSH_FLAG)
      | flagIf(p.skipLockfs, 'skipLockfs', DM_SKIP_LOCKFS_FLAG);
    return plan(flags, id, cookie(p.cookie));
  },
  info: (p) => { const id = idFields(p.id); return plan(flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG), id); },
  wait: (p) => {
    const id = idFields(p.id);
    const eventNr = checkInt(p.eventNr, 'eventNr', 0, 0xffffffff);
    const flags = flagIf(p.table, 'table', DM_STATUS_TABLE_FLAG)
      | flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG)
      | flagIf(p.noflush, 'noflush', DM_NOFLUSH_FLAG)
      | flagIf(p.secure, 'secure', DM_SECURE_DATA_FLAG);
    return plan(flags, id, eventNr);
  },
  load: (p, rc) => {
    const id = idFields(p.id);
    const flags = flagIf(p.readOnly, 'readOnly', DM_READONLY_FLAG) | flagIf(p.secure, 'secure', DM_SECURE_DATA_FLAG);
    // Last: nothing may throw between making the escaped copies and handing over their wipe.
    const table = prepareTable(p.targets, (flags & DM_SECURE_DATA_FLAG) !== 0);
    const pl = plan(flags, id);
    pl.targetCount = table.specs.length;
    pl.payloadSize = table.size;
    pl.writePayload = (v, b, s) => { encodeTable(rc, v, b, s, table); };
    pl.wipe = () => { wipePreparedTable(table); };
    return pl;
  },
  clear: (p) => plan(0, idFields(p.id)),
  deps: (p) => { const id = idFields(p.id); return plan(flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG), id); },
  status: (p) => {
    const id = idFields(p.id);
    const flags = flagIf(p.table, 'table', DM_STATUS_TABLE_FLAG)
      | flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG)
      | flagIf(p.noflush, 'noflush', DM_NOFLUSH_FLAG)
      | flagIf(p.ima, 'ima', DM_IMA_MEASUREMENT_FLAG)
      | flagIf(p.secure, 'secure', DM_SECURE_DATA_FLAG);
    return plan(flags, id);
  },
  message: (p, rc) => {
    const id = idFields(p.id);
    const sector = checkU64(p.sector ?? 0, 'sector', 'INVALID_SECTOR');
    const text = checkCString(p.message, 'message');
    if (text.trim().length === 0) throw new DmCodecError('INVALID_ARGUMENT', 'message must not be empty', 'message');
    const bytes = madeCopy(utf8Encode(text));
    const pl = plan(0, id);
    pl.payloadSize = 8 + bytes.length + 1;
    pl.writePayload = (v, b, s) => { encodeMessage(rc, v, b, s, sector, bytes); };
    // dm-crypt's `key set <hex>` message carries a key.
    pl.wipe = () => { bytes.fill(0); };
    return pl;
  },
  setGeometry: (p) => {
    const id = idFields(p.id);
    const c = checkInt(p.cylinders, 'cylinders', 0, 65535);
    const hd = checkInt(p.heads, 'heads', 0, 255);
    const s = checkInt(p.sectors, 'sectors', 0, 255);
    const start = checkU64(p.start, 'start', 'INVALID_SECTOR');
    const bytes = utf8Encode(`${c} ${hd} ${s} ${start}`);
    const pl = plan(0, id);
    pl.payloadSize = bytes.length + 1;
    pl.writePayload = (_v, b, st) => { encodeString(b, st, bytes); };
    return pl;
  },
  getTargetVersion: (p) => {
    const name = checkCString(p.target, 'target', DM_NAME_LEN - 1);
    if (name.length === 0) throw new DmCodecError('INVALID_ARGUMENT', 'target must not be empty', 'target');
    return plan(0, { name, uuid: '', dev: 0n });
  },
};

