/**
 * The simulated kernel's data as its users see it: its options, a device and its tables, and
 * what an interceptor is given around each ioctl (simulator.ts holds the state; these are its
 * shapes, exported from devicemapper/testing).
 */
import type { CommandName, Version } from '../codec/index.js';
import type { ConstructedTarget } from './targets.js';
import type { SimStatsRegion } from './sim-stats.js';

/** Options of a `SimulatedKernel`. */
export interface SimulatedKernelOptions {
  /** The interface version to report (default 4.48.0, Debian 12's 6.12 kernel). */
  readonly version?: Version;
  /** Block major of dm devices (default 254). */
  readonly major?: number;
  /**
   * false = the caller is not root: opening a control fd (a client, a watcher) fails with
   * the same `DmPermissionError` a non-root user gets from the 0600 root-owned
   * /dev/mapper/control. Set `kernel.privileged = false` after a client opened to model a
   * process that dropped CAP_SYS_ADMIN: its ioctls then fail with `DmError` EACCES, as the
   * kernel's `capable()` check answers.
   */
  readonly privileged?: boolean;
  /**
   * How TABLE_STATUS fills `dm_target_spec.target_type` (docs/kernel-facts.md, "Stale
   * bytes"): 'strncpy' = `strncpy(…, 15)` as kernels before the 2023 strscpy_pad change do (Debian's 6.1): byte 15
   * keeps what the caller's buffer held, so a 15-character type (snapshot-origin) has no
   * terminator; 'strscpy_pad' = NUL-padded (since then; Debian's 6.12). Default: 'strncpy' for
   * interface versions below 4.48, else 'strscpy_pad' (an approximation: 4.48 kernels
   * before the 2023 change still used strncpy).
   */
  readonly targetTypeCopy?: 'strncpy' | 'strscpy_pad';
  /**
   * A simulated udevd with dm's rules (udev-sim.ts): clients on this kernel then default to
   * `udev: 'sync'`, and their cookies are completed by it. Default: none (no udev).
   */
  readonly udev?: boolean;
}

/** A table as the simulated kernel holds it (a device's live or inactive slot). */
export interface SimTable {
  /** Its lines, each with the constructed target that serves it. */
  readonly lines: {
    /** First sector. */
    start: bigint;
    /** Sectors. */
    length: bigint;
    /** The target type. */
    type: string;
    /** What the type's constructor made of the params. */
    target: ConstructedTarget;
  }[];
  /** Loaded with DM_READONLY_FLAG. */
  readonly readOnly: boolean;
}

/**
 * One mapped device as the simulated kernel holds it. The kernel keeps names and uuids as
 * bytes (anything but NUL): `name` and `uuid` are their `simKey()` form, the text itself
 * for UTF-8, so nothing is lost for names that are not UTF-8.
 */
export interface SimDevice {
  /** The name, in `simKey()` form. */
  name: string;
  /** The uuid in `simKey()` form; undefined when it has none. */
  uuid: string | undefined;
  /** Its minor number (the major is the kernel's `major`). */
  readonly minor: number;
  /**
   * Opens by users of /dev/dm-N (`openDevice()`). The open count the kernel reports adds one
   * per other mapped device whose live or inactive table uses this one (`openTotal()`).
   */
  openCount: number;
  /** The event number: moves on target events and table swaps. */
  eventNr: number;
  /** Suspended: info reports DM_SUSPEND_FLAG. */
  suspended: boolean;
  /** The live table; undefined before the first resume of a loaded table. */
  live: SimTable | undefined;
  /** The loaded table waiting for a resume; undefined when none. */
  inactive: SimTable | undefined;
  /** Removal scheduled for the last close (DM_DEFERRED_REMOVE). */
  deferredRemove: boolean;
  /** Whether the gendisk is registered (first table load, 5.15+): uevents need it. */
  diskAdded: boolean;
  /** The geometry set by DM_DEV_SET_GEOMETRY ("cyl heads sectors start"), if any. */
  geometry: string | undefined;
  /** dm-stats regions (@stats_create …), by id. */
  stats: Map<number, SimStatsRegion>;
}

/** One ioctl of a client on this kernel, as an interceptor sees it (`intercept()`). */
export interface SimIoctlEvent {
  /** The label of the backend the client was opened on (`backend({ label })`). */
  readonly label: string | undefined;
  /** The command, or undefined for a number the kernel does not know. */
  readonly command: CommandName | undefined;
  /** The device name of the request header (simKey form), undefined when empty. */
  readonly name?: string | undefined;
  /** The uuid of the request header (simKey form), undefined when empty. */
  readonly uuid?: string | undefined;
}

/** A fault for one call, decided by an interceptor's `fault()` (see `simFaults()`). */
export interface SimCallFault {
  /** Fail the call with this errno number before the kernel sees it. */
  readonly errno?: number;
  /** Hold the call this long first (ms): an async call waits on a timer, a sync call blocks. */
  readonly delayMs?: number;
}

/** What the call did, for `after` (the event of `before` plus the outcome). */
export interface SimIoctlOutcome extends SimIoctlEvent {
  /** 0 on success, else the errno the ioctl failed with. */
  readonly errno: number;
  /** The device the call looked up, created or renamed (the simulator's own object), if any. */
  readonly device: SimDevice | undefined;
}

/**
 * Runs around every ioctl a client issues through a backend of this kernel, for tests
 * that put another actor between two of a client's calls (races, faults at every step).
 * `before` runs after the call left the client and before the kernel processes it; it
 * may change the kernel's state synchronously — through `kernel.ioctl()` (which never
 * triggers interceptors), another client's sync methods, `openDevice()`, … `after` sees
 * what the call did. Calls issued while an interceptor runs are not intercepted.
 */
export interface SimInterceptor {
  /** Called before every ioctl of the client. */
  before?(e: SimIoctlEvent): void;
  /** Runs after `before`: a fault for this call (fail it, delay it), or undefined. The first one wins. */
  fault?(e: SimIoctlEvent): SimCallFault | undefined;
  /** Called after every ioctl of the client, with its outcome. */
  after?(e: SimIoctlOutcome): void;
}
