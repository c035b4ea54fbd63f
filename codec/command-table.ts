/**
 * The command table: every control command of the device-mapper interface declared once,
 * one row each. The codec (encode, decode), the runner (minimum versions, buffer sizing),
 * the simulator (ctl_ioctl's per-command flags), the CLI (kernel names, hex annotation) and
 * the client's method check all read this table; nothing else lists commands.
 *
 * Adding a command: a row here (its request type in `CommandRequests`, codec/types.ts),
 * a handler in the simulator, a method on `DeviceMapper`, and a conformance test. The
 * compiler points at each place that is missing: the row must satisfy
 * `CommandSpec` for every key of `CommandRequests`; the simulator's handler table and the
 * client's method check are `Record`s over `CommandName`; every switch over a row's kinds
 * ends in a `never` check; the conformance suite fails when no test issues a command.
 * Facts: `linux/dm-ioctl.h` (numbers, names), `_cmd_data_v4` of libdevmapper
 * (libdm/ioctl/libdm-iface.c: minimum versions), `_ioctls[]` of drivers/md/dm-ioctl.c
 * (IOCTL_FLAGS_NO_PARAMS, IOCTL_FLAGS_ISSUE_GLOBAL_EVENT).
 */
import { DmCodecError } from './errors.js';
import { encodeDev } from './dev.js';
import { utf8Encode } from './text.js';
import { madeCopy } from './copies.js';
import { checkCString, checkInt, checkName, checkPrefix, checkU64, checkUuid } from './validate.js';
import { encodeMessage, encodeString, encodeTable, prepareTable, wipePreparedTable, type RecordCodecs } from './payload.js';
import { cookie, flagIf, idFields, plan, type Plan } from './plan.js';
import { dmIoctl, DM_NAME_LEN, DM_UUID_LEN } from './records.js';
import {
  DM_DEFERRED_REMOVE, DM_IMA_MEASUREMENT_FLAG, DM_NOFLUSH_FLAG, DM_PERSISTENT_DEV_FLAG, DM_QUERY_INACTIVE_TABLE_FLAG,
  DM_IOCTL, DM_READONLY_FLAG, DM_SECURE_DATA_FLAG, DM_SKIP_LOCKFS_FLAG, DM_STATUS_TABLE_FLAG, DM_SUSPEND_FLAG, DM_UUID_FLAG,
  type Version,
} from './constants.js';
import type { CommandName, CommandRequests } from './types.js';

/**
 * What the kernel writes back on success, decoded by one branch of `decodeReply`:
 * - `version`: the version only (the handler copies nothing else back);
 * - `device`: the header fields `__dev_status()` fills;
 * - `removed`: DEV_REMOVE's looked-up name and uuid and two flags (no `__dev_status()`);
 * - `names`: a dm_name_list chain (LIST_DEVICES);
 * - `versions`: a dm_target_versions chain;
 * - `targets`: dm_target_spec + text per target (TABLE_STATUS, DEV_WAIT), with the device;
 * - `deps`: dm_target_deps, with the device;
 * - `message`: TARGET_MSG's optional output text.
 */
export type ReplyKind = 'version' | 'device' | 'removed' | 'names' | 'versions' | 'targets' | 'deps' | 'message';

/** What follows the header in a request (for dumps): nothing, a table, a dm_target_msg, or one string. */
export type RequestPayload = 'none' | 'table' | 'message' | 'string';

/** One row of the command table. */
export interface CommandSpec<C extends CommandName = CommandName> {
  /** The command number (`DM_*_CMD`, the low byte of the ioctl request). */
  readonly nr: number;
  /** The kernel's name (`DM_DEV_SET_GEOMETRY`). */
  readonly kernelName: `DM_${string}`;
  /** The `DeviceMapper` method that issues it (checked against the class in lib/client/client.ts). */
  readonly client: string;
  /** The lowest interface version the command needs; requests carry it, as libdevmapper's do. */
  readonly minVersion: Version;
  /** Validates the parameters completely and plans the request (header fields, payload). */
  readonly plan: (params: CommandRequests[C], records: RecordCodecs) => Plan;
  /** What follows the header in the request. */
  readonly request: RequestPayload;
  /** What the reply holds on success. */
  readonly reply: ReplyKind;
  /** The reply carries a payload: the buffer is `bufferBytes` bytes (grown on DM_BUFFER_FULL_FLAG), not just the request. */
  readonly payload: boolean;
  /** IOCTL_FLAGS_NO_PARAMS: the kernel copies only the 305-byte header in. */
  readonly noParams: boolean;
  /** IOCTL_FLAGS_ISSUE_GLOBAL_EVENT: success raises the global event (event pollers wake). */
  readonly globalEvent: boolean;
  /**
   * The kernel may sleep in this command (I/O, RCU, a target's constructor, a module
   * autoload): the client's Promise method runs it on koffi's async path, and a sync
   * variant exists only for commands that never sleep.
   */
  readonly maySleep: boolean;
}

/** The rows. Numbers are the kernel's; the order here is the kernel's too. */
export const COMMAND_TABLE = {
  version: {
    nr: 0, kernelName: 'DM_VERSION', client: 'version', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: () => plan(0),
    request: 'none', reply: 'version', payload: false, noParams: false, globalEvent: false, maySleep: false,
  },
  removeAll: {
    nr: 1, kernelName: 'DM_REMOVE_ALL', client: 'removeAll', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => plan(flagIf(p.deferred, 'deferred', DM_DEFERRED_REMOVE)),
    request: 'none', reply: 'version', payload: false, noParams: true, globalEvent: true, maySleep: true,
  },
  listDevices: {
    nr: 2, kernelName: 'DM_LIST_DEVICES', client: 'list', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const flags = flagIf(p.withUuid, 'withUuid', DM_UUID_FLAG);
      // On 4.45+ name/uuid are prefix filters: empty means "all devices".
      const name = p.namePrefix === undefined ? '' : checkPrefix(p.namePrefix, 'namePrefix', DM_NAME_LEN - 1);
      const uuid = p.uuidPrefix === undefined ? '' : checkPrefix(p.uuidPrefix, 'uuidPrefix', DM_UUID_LEN - 1);
      return plan(flags, { name, uuid, dev: 0n });
    },
    request: 'none', reply: 'names', payload: true, noParams: false, globalEvent: false, maySleep: false,
  },
  create: {
    nr: 3, kernelName: 'DM_DEV_CREATE', client: 'create', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const name = checkName(p.name);
      const uuid = p.uuid === undefined ? '' : checkUuid(p.uuid);
      if (p.minor === undefined) {
        if (p.major !== undefined) throw new DmCodecError('INVALID_ARGUMENT', 'major is only meaningful with minor', 'major');
        return plan(0, { name, uuid, dev: 0n });
      }
      const dev = encodeDev(p.major ?? 0, checkInt(p.minor, 'minor', 0, 0xfffff));
      return plan(DM_PERSISTENT_DEV_FLAG, { name, uuid, dev });
    },
    request: 'none', reply: 'device', payload: false, noParams: true, globalEvent: true, maySleep: true,
  },
  remove: {
    nr: 4, kernelName: 'DM_DEV_REMOVE', client: 'remove', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const id = idFields(p.id);
      const flags = flagIf(p.deferred, 'deferred', DM_DEFERRED_REMOVE);
      return plan(flags, id, cookie(p.cookie));
    },
    request: 'none', reply: 'removed', payload: false, noParams: true, globalEvent: true, maySleep: true,
  },
  rename: {
    nr: 5, kernelName: 'DM_DEV_RENAME', client: 'rename', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const name = checkName(p.name, 'name');
      if ((p.newName === undefined) === (p.newUuid === undefined)) {
        throw new DmCodecError('INVALID_ARGUMENT', 'rename needs exactly one of newName or newUuid', 'newName');
      }
      const target = p.newName !== undefined ? checkName(p.newName, 'newName') : checkUuid(p.newUuid, 'newUuid');
      const bytes = typeof target === 'string' ? utf8Encode(target) : target;
      const pl = plan(p.newUuid !== undefined ? DM_UUID_FLAG : 0, { name, uuid: '', dev: 0n }, cookie(p.cookie));
      pl.payloadBytes = bytes.length + 1;
      pl.writePayload = (_v, b, s) => { encodeString(b, s, bytes); };
      return pl;
    },
    request: 'string', reply: 'device', payload: false, noParams: false, globalEvent: true, maySleep: true,
  },
  suspend: {
    nr: 6, kernelName: 'DM_DEV_SUSPEND', client: 'suspend', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      if (p.action !== 'suspend' && p.action !== 'resume') {
        throw new DmCodecError('INVALID_ARGUMENT', `action must be 'suspend' or 'resume', got ${String(p.action)}`, 'action');
      }
      const id = idFields(p.id);
      const flags = (p.action === 'suspend' ? DM_SUSPEND_FLAG : 0)
        | flagIf(p.noflush, 'noflush', DM_NOFLUSH_FLAG)
        | flagIf(p.skipLockfs, 'skipLockfs', DM_SKIP_LOCKFS_FLAG);
      return plan(flags, id, cookie(p.cookie));
    },
    request: 'none', reply: 'device', payload: false, noParams: true, globalEvent: false, maySleep: true,
  },
  info: {
    nr: 7, kernelName: 'DM_DEV_STATUS', client: 'info', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => { const id = idFields(p.id); return plan(flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG), id); },
    request: 'none', reply: 'device', payload: false, noParams: true, globalEvent: false, maySleep: false,
  },
  wait: {
    nr: 8, kernelName: 'DM_DEV_WAIT', client: 'wait', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const id = idFields(p.id);
      const eventNr = checkInt(p.eventNr, 'eventNr', 0, 0xffffffff);
      const flags = flagIf(p.table, 'table', DM_STATUS_TABLE_FLAG)
        | flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG)
        | flagIf(p.noflush, 'noflush', DM_NOFLUSH_FLAG)
        | flagIf(p.secure, 'secure', DM_SECURE_DATA_FLAG);
      return plan(flags, id, eventNr);
    },
    request: 'none', reply: 'targets', payload: true, noParams: false, globalEvent: false, maySleep: true,
  },
  load: {
    nr: 9, kernelName: 'DM_TABLE_LOAD', client: 'load', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p, rc) => {
      const id = idFields(p.id);
      const flags = flagIf(p.readOnly, 'readOnly', DM_READONLY_FLAG) | flagIf(p.secure, 'secure', DM_SECURE_DATA_FLAG);
      // Last: nothing may throw between making the escaped copies and handing over their wipe.
      const table = prepareTable(p.targets, (flags & DM_SECURE_DATA_FLAG) !== 0);
      const pl = plan(flags, id);
      pl.targetCount = table.specs.length;
      pl.payloadBytes = table.sizeBytes;
      pl.writePayload = (v, b, s) => { encodeTable(rc, v, b, s, table); };
      pl.wipe = () => { wipePreparedTable(table); };
      return pl;
    },
    request: 'table', reply: 'device', payload: false, noParams: false, globalEvent: false, maySleep: true,
  },
  clear: {
    nr: 10, kernelName: 'DM_TABLE_CLEAR', client: 'clear', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => plan(0, idFields(p.id)),
    request: 'none', reply: 'device', payload: false, noParams: true, globalEvent: false, maySleep: true,
  },
  deps: {
    nr: 11, kernelName: 'DM_TABLE_DEPS', client: 'deps', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => { const id = idFields(p.id); return plan(flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG), id); },
    request: 'none', reply: 'deps', payload: true, noParams: false, globalEvent: false, maySleep: false,
  },
  status: {
    nr: 12, kernelName: 'DM_TABLE_STATUS', client: 'status', minVersion: [4, 0, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const id = idFields(p.id);
      const flags = flagIf(p.table, 'table', DM_STATUS_TABLE_FLAG)
        | flagIf(p.inactive, 'inactive', DM_QUERY_INACTIVE_TABLE_FLAG)
        | flagIf(p.noflush, 'noflush', DM_NOFLUSH_FLAG)
        | flagIf(p.ima, 'ima', DM_IMA_MEASUREMENT_FLAG)
        | flagIf(p.secure, 'secure', DM_SECURE_DATA_FLAG);
      return plan(flags, id);
    },
    // A target's status function may wait for I/O (flush); its table text does not (tableSync).
    request: 'none', reply: 'targets', payload: true, noParams: false, globalEvent: false, maySleep: true,
  },
  listVersions: {
    nr: 13, kernelName: 'DM_LIST_VERSIONS', client: 'listVersions', minVersion: [4, 1, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: () => plan(0),
    request: 'none', reply: 'versions', payload: true, noParams: false, globalEvent: false, maySleep: false,
  },
  message: {
    nr: 14, kernelName: 'DM_TARGET_MSG', client: 'message', minVersion: [4, 2, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p, rc) => {
      const id = idFields(p.id);
      const sector = checkU64(p.sector ?? 0, 'sector', 'INVALID_SECTOR');
      const text = checkCString(p.message, 'message');
      if (text.trim().length === 0) throw new DmCodecError('INVALID_ARGUMENT', 'message must not be empty', 'message');
      const bytes = madeCopy(utf8Encode(text));
      const pl = plan(0, id);
      pl.payloadBytes = rc.msg.size + bytes.length + 1;
      pl.writePayload = (v, b, s) => { encodeMessage(rc, v, b, s, sector, bytes); };
      // dm-crypt's `key set <hex>` message carries a key.
      pl.wipe = () => { bytes.fill(0); };
      return pl;
    },
    request: 'message', reply: 'message', payload: true, noParams: false, globalEvent: false, maySleep: true,
  },
  setGeometry: {
    nr: 15, kernelName: 'DM_DEV_SET_GEOMETRY', client: 'setGeometry', minVersion: [4, 6, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const id = idFields(p.id);
      const c = checkInt(p.cylinders, 'cylinders', 0, 65535);
      const hd = checkInt(p.heads, 'heads', 0, 255);
      const s = checkInt(p.sectorsPerTrack, 'sectorsPerTrack', 0, 255);
      const start = checkU64(p.startSectors, 'startSectors', 'INVALID_SECTOR');
      const bytes = utf8Encode(`${c} ${hd} ${s} ${start}`);
      const pl = plan(0, id);
      pl.payloadBytes = bytes.length + 1;
      pl.writePayload = (_v, b, st) => { encodeString(b, st, bytes); };
      return pl;
    },
    request: 'string', reply: 'version', payload: false, noParams: false, globalEvent: false, maySleep: true,
  },
  armPoll: {
    nr: 16, kernelName: 'DM_DEV_ARM_POLL', client: 'armPoll', minVersion: [4, 37, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: () => plan(0),
    request: 'none', reply: 'version', payload: false, noParams: true, globalEvent: false, maySleep: false,
  },
  getTargetVersion: {
    nr: 17, kernelName: 'DM_GET_TARGET_VERSION', client: 'getTargetVersion', minVersion: [4, 41, 0],
    /** Builds this command's request plan from the client's parameters. */
    plan: (p) => {
      const name = checkCString(p.target, 'target', DM_NAME_LEN - 1);
      if (name.length === 0) throw new DmCodecError('INVALID_ARGUMENT', 'target must not be empty', 'target');
      return plan(0, { name, uuid: '', dev: 0n });
    },
    // dm_get_target_type() autoloads the target's module (request_module sleeps).
    request: 'none', reply: 'versions', payload: true, noParams: false, globalEvent: false, maySleep: true,
  },
} as const satisfies { readonly [C in CommandName]: CommandSpec<C> };

/** The table's type, for types derived from its rows (replies by kind). */
export type CommandTable = typeof COMMAND_TABLE;

/** The row of a command (typed loosely: for code that handles any command). */
export function commandSpec(command: CommandName): CommandSpec {
  return COMMAND_TABLE[command] as CommandSpec;
}

/** Every command, in kernel order (by number). */
export const COMMANDS: readonly CommandName[] = orderByNumber();

function orderByNumber(): CommandName[] {
  const names = Object.keys(COMMAND_TABLE) as CommandName[];
  const byNr: CommandName[] = [];
  for (const n of names) {
    const nr = COMMAND_TABLE[n].nr;
    // Numbers are the index of the kernel's _ioctls[]: dense from 0 and unique.
    if (byNr[nr] !== undefined || nr >= names.length) throw new Error(`command table: number ${nr} of ${n} is taken or out of range`);
    byNr[nr] = n;
  }
  return byNr;
}

/** The command with this number, or undefined for a number the interface does not define. */
export function commandByNumber(nr: number): CommandName | undefined {
  return COMMANDS[nr];
}

/** Whether `name` is a command of the table. */
export function isCommand(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(COMMAND_TABLE, name);
}

/** `_IOWR(0xfd, nr, struct dm_ioctl)` (0xC138FD00 | nr), as a plain unsigned number. */
export function requestCode(command: CommandName): number {
  if (!isCommand(command)) throw new DmCodecError('UNKNOWN_COMMAND', `unknown command ${typeof command === 'string' ? JSON.stringify(command) : typeof command}`);
  // _IOC(_IOC_READ | _IOC_WRITE, DM_IOCTL, nr, sizeof(struct dm_ioctl)) of asm-generic/ioctl.h.
  return ((3 << 30) | (dmIoctl.size << 16) | (DM_IOCTL << 8) | COMMAND_TABLE[command].nr) >>> 0;
}

/** The command number of a request code (its low byte), whatever the type byte says. */
export function commandNumber(command: CommandName): number {
  return isCommand(command) ? COMMAND_TABLE[command].nr : -1;
}
