/** Typed requests and replies of the 18 commands. */
import type { DevNo } from './dev.js';
import type { Version } from './constants.js';
import type { CommandTable, ReplyKind } from './command-table.js';

/**
 * A name or uuid as the kernel holds it. The kernel allows any bytes but NUL (and '/' in
 * names): a string is sent as UTF-8, a Uint8Array exactly as given, so a name that is not
 * UTF-8 is passed back as the `nameBytes` / `uuidBytes` a reply carried.
 */
export type KernelString = string | Uint8Array;

/**
 * How a command finds its device: by exactly one of name, uuid or device number. Names and
 * uuids that are not UTF-8 are given as bytes: `{ name: d.nameBytes ?? d.name }`.
 */
export type DeviceId =
  | { readonly name: KernelString; readonly uuid?: undefined; readonly dev?: undefined }
  | { readonly uuid: KernelString; readonly name?: undefined; readonly dev?: undefined }
  | { readonly dev: { readonly major: number; readonly minor: number }; readonly name?: undefined; readonly uuid?: undefined };

/** Sector numbers and lengths: a safe integer or a bigint (512-byte sectors). */
export type Sectors = number | bigint;

/** One table line to load: `<start> <length> <type> <params>`. */
export interface TargetSpecInput {
  readonly start: Sectors;
  readonly length: Sectors;
  readonly type: string;
  /** Raw parameter tokens; the encoder doubles every backslash (libdevmapper's rule). Bytes for key material. */
  readonly params: string | Uint8Array;
}

/** One table line as the kernel returns it (status or table text). */
export interface TargetLine {
  readonly start: bigint;
  readonly length: bigint;
  readonly type: string;
  readonly params: string;
}

/**
 * The request of each command. Its keys are the command names: a command of the table
 * (codec/command-table.ts) has its request type here.
 */
export interface CommandRequests {
  version: Record<string, never>;
  removeAll: { readonly deferred?: boolean };
  listDevices: {
    /** Include each device's uuid (4.45+). */
    readonly withUuid?: boolean;
    /** Only devices whose name starts with this (4.45+; older kernels ignore it). */
    readonly namePrefix?: KernelString;
    /** Only devices whose uuid starts with this (4.45+; older kernels ignore it). */
    readonly uuidPrefix?: KernelString;
  };
  create: {
    readonly name: KernelString;
    readonly uuid?: KernelString;
    /** Ask for this minor (DM_PERSISTENT_DEV_FLAG); the kernel ignores the major. */
    readonly minor?: number;
    readonly major?: number;
  };
  remove: { readonly id: DeviceId; readonly deferred?: boolean; readonly cookie?: number };
  rename: {
    /** The kernel finds the source by name only. */
    readonly name: KernelString;
    readonly newName?: KernelString;
    readonly newUuid?: KernelString;
    readonly cookie?: number;
  };
  suspend: {
    readonly id: DeviceId;
    /** 'suspend' sets DM_SUSPEND_FLAG; 'resume' swaps in the inactive table. */
    readonly action: 'suspend' | 'resume';
    readonly noflush?: boolean;
    readonly skipLockfs?: boolean;
    readonly cookie?: number;
  };
  info: { readonly id: DeviceId; readonly inactive?: boolean };
  wait: {
    readonly id: DeviceId;
    /** Return as soon as the device's event number differs from this one. */
    readonly eventNr: number;
    /** Return the table text instead of the status text. */
    readonly table?: boolean;
    readonly inactive?: boolean;
    readonly noflush?: boolean;
    /** DM_SECURE_DATA_FLAG: the kernel wipes its copies (table text holds keys). */
    readonly secure?: boolean;
  };
  load: {
    readonly id: DeviceId;
    readonly targets: readonly TargetSpecInput[];
    readonly readOnly?: boolean;
    /** DM_SECURE_DATA_FLAG: the kernel wipes its copies (key material). */
    readonly secure?: boolean;
  };
  clear: { readonly id: DeviceId };
  deps: { readonly id: DeviceId; readonly inactive?: boolean };
  status: {
    readonly id: DeviceId;
    /** Table text (DM_STATUS_TABLE_FLAG) instead of status text. */
    readonly table?: boolean;
    readonly inactive?: boolean;
    readonly noflush?: boolean;
    /** STATUSTYPE_IMA text (4.45+). */
    readonly ima?: boolean;
    readonly secure?: boolean;
  };
  listVersions: Record<string, never>;
  message: { readonly id: DeviceId; readonly sector?: Sectors; readonly message: string };
  setGeometry: {
    readonly id: DeviceId;
    readonly cylinders: number;
    readonly heads: number;
    /** Sectors per track (HDIO_GETGEO's `sectors`). */
    readonly sectorsPerTrack: number;
    /** The start sector (HDIO_GETGEO's `start`). */
    readonly startSectors: Sectors;
  };
  armPoll: Record<string, never>;
  getTargetVersion: { readonly target: string };
}

/** The out-flags of a reply, as named booleans. */
export interface ReplyFlags {
  readonly readOnly: boolean;
  readonly suspended: boolean;
  readonly activePresent: boolean;
  readonly inactivePresent: boolean;
  readonly bufferFull: boolean;
  readonly ueventGenerated: boolean;
  readonly dataOut: boolean;
  readonly deferredRemove: boolean;
  readonly internalSuspend: boolean;
}

/**
 * The kernel's bytes of a name and uuid that are not valid UTF-8 (the string forms then
 * hold U+FFFD and cannot address the device). Absent for UTF-8 names: the string is exact.
 */
export interface RawNames {
  readonly nameBytes?: Uint8Array;
  readonly uuidBytes?: Uint8Array;
}

/** The header fields the kernel writes for a device (`__dev_status` plus the looked-up name/uuid). */
export interface DeviceInfo extends RawNames {
  readonly name: string;
  /** The device's uuid; null when it has none (as in `ListedDevice` and events). */
  readonly uuid: string | null;
  readonly dev: DevNo;
  readonly openCount: number;
  readonly eventNr: number;
  readonly targetCount: number;
  readonly flags: ReplyFlags;
  readonly rawFlags: number;
}

export interface ListedDevice extends RawNames {
  readonly name: string;
  readonly dev: DevNo;
  /** Per-device event number (kernels 4.37+); undefined when the kernel does not report it. */
  readonly eventNr: number | undefined;
  /** The uuid when asked for and present; null when the kernel says there is none; undefined when not reported. */
  readonly uuid: string | null | undefined;
}

/** A target type the kernel knows, with its version (`DM_LIST_VERSIONS`, `DM_GET_TARGET_VERSION`). */
export interface TargetVersion {
  readonly name: string;
  readonly version: Version;
}

/** A reply that carries only the kernel's version; a building block of ReplyKinds, not exported (docs/api-reference.md). */
interface VersionOnly { readonly version: Version }
/** A reply that carries the version and the device's info; not exported, as VersionOnly. */
interface WithDevice extends VersionOnly { readonly device: DeviceInfo }

/** The name of a control command (a key of the command table). */
export type CommandName = keyof CommandRequests;

/** What each reply kind of the command table (`ReplyKind`) decodes to. */
export interface ReplyKinds {
  version: VersionOnly;
  device: WithDevice;
  /**
   * DEV_REMOVE does not run `__dev_status()`: the kernel writes only the looked-up name and
   * uuid and two flags. `deferred` = the device was open and is now scheduled for removal
   * on last close (it still exists); otherwise it is gone.
   */
  removed: VersionOnly & RawNames & { readonly name: string; readonly uuid: string | null; readonly deferred: boolean; readonly ueventGenerated: boolean };
  names: VersionOnly & { readonly bufferFull: boolean; readonly devices: readonly ListedDevice[] };
  versions: VersionOnly & { readonly bufferFull: boolean; readonly targets: readonly TargetVersion[] };
  targets: WithDevice & { readonly bufferFull: boolean; readonly targets: readonly TargetLine[] };
  deps: WithDevice & { readonly bufferFull: boolean; readonly deps: readonly DevNo[] };
  message: VersionOnly & { readonly bufferFull: boolean; readonly dataOut: boolean; readonly output: string | undefined };
}

/** The decoded reply of each command: the type of its row's reply kind. */
export type CommandReplies = { [C in CommandName]: ReplyKinds[CommandTable[C]['reply']] };

