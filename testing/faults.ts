/**
 * The simulator's fault API: the failures a test of error paths needs, without root and
 * without timing tricks. Built on `kernel.intercept()` (call faults), `openDevice()` (a
 * holder of the device), `triggerEvent()` (target events) and the thin-pool model
 * (thin-sim.ts).
 *
 *   const kernel = new SimulatedKernel();
 *   const faults = simFaults(kernel);
 *   faults.failNext('resume', 'EIO');                    // the next resume fails with DmError EIO
 *   faults.delay('suspend', 500);                        // the next suspend takes half a second
 *   const release = faults.holdOpen('vol');              // remove() now fails EBUSY
 *   faults.raiseEvent('vol');                            // wakes wait()/waitEvent()/events()
 *   faults.lowWater('pool');                             // the pool crosses its low-water mark
 *
 * Call faults match a command and optionally a device (by the request's name or uuid) or
 * a client (the `label` of `kernel.backend({ label })`); each applies to the next
 * `times` matching calls (default 1), in the order they were added, then removes itself.
 * Every method returns a function that cancels what it set up; `clear()` cancels all.
 */
import type { CommandName } from '../codec/index.js';
import { ERRNO, type ErrnoName } from '../ffi/errors.js';
import { simKey, type SimCallFault, type SimIoctlEvent, type SimulatedKernel } from './simulator.js';
import { thinSim } from './thin-sim.js';
import { simBlockIo, type SimFileCall, type SimFileFault } from './sim-io.js';

/** Which calls a fault applies to. */
export interface SimFaultMatch {
  /** Only calls naming this device (the request's name, or its uuid). */
  readonly device?: string;
  /** Only calls of the client opened on `kernel.backend({ label })`. */
  readonly label?: string;
  /** How many matching calls it applies to (default 1). `Infinity` keeps it until cancelled. */
  readonly times?: number;
}

interface Rule { readonly command: CommandName; readonly match: SimFaultMatch; left: number; readonly fault: SimCallFault }

/** The fault handle of one simulated kernel (see the module comment). */
export class SimFaults {
  readonly #kernel: SimulatedKernel;
  readonly #rules: Rule[] = [];
  readonly #cleanups = new Set<() => void>();
  #detach: (() => void) | undefined;

  constructor(kernel: SimulatedKernel) { this.#kernel = kernel; }

  /**
   * Fails the next call of `command` (e.g. `'resume'`, `'load'`, `'remove'`) with `errno`
   * before the simulated kernel sees it: the client rejects with the `DmError` of that
   * errno and the kernel's state is unchanged. Returns a function that cancels it.
   */
  failNext(command: CommandName, errno: ErrnoName, match: SimFaultMatch = {}): () => void {
    const n = ERRNO[errno];
    if (typeof n !== 'number') throw new TypeError(`unknown errno name ${String(errno)}`);
    return this.#add({ command, match, left: times(match), fault: { errno: n } });
  }

  /**
   * Holds the next call of `command` for `delayMs` milliseconds before the kernel processes it
   * (a suspend waiting for I/O, a slow target constructor). Async calls wait on a timer
   * (the process stays alive, as with the real pool thread); sync calls block the thread.
   */
  delay(command: CommandName, delayMs: number, match: SimFaultMatch = {}): () => void {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    return this.#add({ command, match, left: times(match), fault: { delayMs } });
  }

  /**
   * Holds the next `call` (`'read'`, `'write'`, `'sizeBytes'`) of the simulated file or device
   * opened at `path` (`openBlockFile`, the thin metadata reader, verity) for `delayMs`
   * milliseconds, as a slow disk would: a write lands when the hold ends. For tests of a
   * caller's `signal` and `timeoutMs` on file I/O. Returns a function that cancels it.
   */
  delayFile(path: string, call: SimFileCall, delayMs: number, match: { readonly times?: number } = {}): () => void {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    return this.#addFile({ path, call, left: times(match), delayMs });
  }

  /**
   * Fails the next `call` of the simulated file or device opened at `path` with `errno` (a
   * `DmSyscallError` whose code is the errno's name), the file unchanged; with `delayMs`, after
   * that hold (a write that fails late). Returns a function that cancels it.
   */
  failFile(path: string, call: SimFileCall, errno: ErrnoName, match: { readonly times?: number; readonly delayMs?: number } = {}): () => void {
    const n = ERRNO[errno];
    if (typeof n !== 'number') throw new TypeError(`unknown errno name ${String(errno)}`);
    const delayMs = match.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    return this.#addFile({ path, call, left: times(match), errno: n, delayMs });
  }

  /**
   * Opens the device as another process would (its open count goes up): `remove()` fails
   * with EBUSY, a deferred remove waits. The returned function closes it again (the last
   * close runs a pending deferred remove, as in the kernel).
   */
  holdOpen(device: string | Uint8Array): () => void {
    const d = this.#kernel.devices.get(simKey(device));
    if (!d) throw new Error(`no simulated device ${String(device)}`);
    this.#kernel.openDevice(device);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      this.#cleanups.delete(close);
      // By the device itself: it may have been renamed since; a removed one has nothing to close.
      if (this.#kernel.devices.get(d.name) === d) this.#kernel.closeDevice(d.name);
    };
    this.#cleanups.add(close);
    return close;
  }

  /** A target event on the device (dm_table_event()): its event number moves and waiters wake. */
  raiseEvent(device: string | Uint8Array): void {
    this.#kernel.triggerEvent(device);
  }

  /**
   * Makes the thin pool behind `poolDevice` (a device with a live thin-pool table) cross
   * its low-water mark, as writers filling it would: data blocks are provisioned to no thin
   * until the free blocks are at the mark (or `freeBlocks`, if given), which raises the
   * kernel's one low-water table event. The returned function gives the blocks back.
   */
  lowWater(poolDevice: string, options: { readonly freeBlocks?: number } = {}): () => void {
    const release = thinSim(this.#kernel).consume(poolDevice, options.freeBlocks);
    this.#cleanups.add(release);
    return () => { this.#cleanups.delete(release); release(); };
  }

  /** Cancels every fault, hold and consumed block this handle set up. */
  clear(): void {
    this.#rules.length = 0;
    for (const c of [...this.#cleanups]) c();
    this.#detach?.();
    this.#detach = undefined;
  }

  #addFile(fault: SimFileFault): () => void {
    const list = simBlockIo(this.#kernel).fileFaults;
    list.push(fault);
    const cancel = () => {
      this.#cleanups.delete(cancel);
      const i = list.indexOf(fault);
      if (i >= 0) list.splice(i, 1);
    };
    this.#cleanups.add(cancel);
    return cancel;
  }

  #add(rule: Rule): () => void {
    this.#rules.push(rule);
    this.#detach ??= this.#kernel.intercept({ fault: (e) => this.#match(e) });
    return () => {
      const i = this.#rules.indexOf(rule);
      if (i >= 0) this.#rules.splice(i, 1);
    };
  }

  #match(e: SimIoctlEvent): SimCallFault | undefined {
    const i = this.#rules.findIndex((r) => r.command === e.command
      && (r.match.label === undefined || r.match.label === e.label)
      && (r.match.device === undefined || r.match.device === e.name || r.match.device === e.uuid));
    if (i < 0) return undefined;
    const rule = this.#rules[i]!;
    if (--rule.left <= 0) this.#rules.splice(i, 1);
    return rule.fault;
  }
}

function times(match: SimFaultMatch): number {
  const t = match.times ?? 1;
  if (!(t >= 1)) throw new RangeError(`times must be at least 1, got ${t}`);
  return t;
}

const handles = new WeakMap<SimulatedKernel, SimFaults>();

/** The fault handle of a simulated kernel (one per kernel). */
export function simFaults(kernel: SimulatedKernel): SimFaults {
  let f = handles.get(kernel);
  if (!f) { f = new SimFaults(kernel); handles.set(kernel, f); }
  return f;
}
