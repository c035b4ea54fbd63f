/**
 * `FaultyDevice`: fault injection under a live filesystem, as database and filesystem test
 * rigs do with dm-flakey, dm-delay and dm-error (xfstests' dmflakey helpers, by hand). The
 * device starts as a linear passthrough over a block device; each switch loads the new
 * table, suspends with noflush (4.12+) and without freezing the filesystem (a frozen
 * filesystem on a failing device could not thaw), and resumes: the filesystem stays
 * mounted and its I/O continues under the new behaviour. `mode()` reads the behaviour
 * back from the kernel's live table.
 *
 * Kernel facts relied on (flakey's always-down setting, table formats, why no freeze):
 * docs/thin-and-faults.md.
 *
 * The device gets a uuid (`FAULTY-<name>` unless given) and every step after the first
 * (undo steps too) is addressed by it; each reply is checked against the first step's name,
 * uuid and dev. Every method is one operation of the operation core
 * (lib/operations/operation.ts): it takes `signal` and `timeoutMs` and undoes what it did
 * when it fails or is stopped. The underlying device's size comes from the client's backend
 * (BLKGETSIZE64 on the host, the simulated device's size on the simulator).
 */
import { FEATURES, type DeviceMapper } from '../client/client.js';
import { blockIoFor } from '../block/block-io.js';
import { DmOperationError } from '../errors.js';
import { addressOf, identityOf, type DeviceIdentity } from './identity.js';
import type { Operation } from './operation.js';
import { createStep, loadStep, removeIfThere, resumeStep, runOn, suspendStep } from './handle-steps.js';
import { optionsArg } from '../client/args.js';
import { parseTarget, toTargetSpecs, type TypedTarget } from '../targets/table.js';
import { compareVersions } from '../client/runner.js';
import { recordsNaming, recover } from './recover.js';

/** What a bio's corruption looks like (dm-flakey `corrupt_bio_byte`). */
export interface Corruption {
  /** 1-based byte within each bio's data that is overwritten. */
  readonly byte: number;
  /**
   * Corrupt data read (`read`: the disk stays intact; measured to have no effect on Linux 6.1,
   * see docs/thin-and-faults.md) or written (`write`: the disk gets the bad byte).
   */
  readonly direction: 'read' | 'write';
  /** The byte value written there (0…255). */
  readonly value: number;
  /** Only bios whose bi_opf has all these REQ_* bits (default 0: every bio). */
  readonly flags?: number;
}

/** What happens to I/O while the device misbehaves. */
export type FaultBehaviour =
  /** Every read and write fails with EIO. */
  | { readonly kind: 'fail-all' }
  /** Writes fail with EIO; reads pass. */
  | { readonly kind: 'fail-writes' }
  /** Writes complete successfully but are not stored; reads pass. */
  | { readonly kind: 'drop-writes' }
  /** One byte of every matching bio is overwritten. */
  | ({ readonly kind: 'corrupt' } & Corruption);

/** A behaviour of a {@link FaultyDevice}, as set or as read back from the live table. */
export type FaultMode =
  /** A linear mapping of the whole device: no faults. */
  | { readonly kind: 'passthrough' }
  | FaultBehaviour
  /** Every read waits `readMs`, every write (and flush) `writeMs` before it is issued (dm-delay). */
  | { readonly kind: 'delay'; readonly readMs: number; readonly writeMs: number }
  /** `upSeconds` of passthrough, then `downSeconds` of `down`, repeating from the switch (dm-flakey). */
  | { readonly kind: 'intervals'; readonly upSeconds: number; readonly downSeconds: number; readonly down: FaultBehaviour };

/** What every FaultyDevice method takes (docs/conventions.md, "Cancellation, time and progress"). */
export interface FaultyDeviceCallOptions {
  /** Stops the call at its next step; what it did is undone and it rejects with DmAbortError. */
  readonly signal?: AbortSignal;
  /** The call's bound in ms (1…3600000); default: the device's (`timeoutMs` of create, 10000). */
  readonly timeoutMs?: number;
}

/** Options of {@link FaultyDevice.create}. */
export interface CreateFaultyDeviceOptions extends FaultyDeviceCallOptions {
  /** The new device's name. */
  readonly name: string;
  /** The block device underneath: a path or `major:minor`. */
  readonly device: string;
  /** Default `FAULTY-<name>`. */
  readonly uuid?: string;
  /** First sector used on the device (default 0). */
  readonly offsetSectors?: bigint | number;
  /** Sectors mapped (default: the device's size, from the client's backend, less the offset). */
  readonly sizeSectors?: bigint | number;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new DmOperationError('INVALID_INPUT', `${field} must be an integer in ${min}…${max}, got ${String(v)}`);
  return v;
}

function u64(v: unknown, field: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  throw new DmOperationError('INVALID_INPUT', `${field} must be a non-negative integer below 2^64, got ${String(v)}`);
}

const U32 = 0xffffffff;

const CALL_OPTIONS = { signal: 'signal', timeoutMs: 'any' } as const;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A device whose I/O behaviour can be switched while it is in use.
 *
 * **Disposal** (`await using disk = await FaultyDevice.create(…)`): the device owns the
 * mapped device it created; disposing removes it (with the EBUSY retries; it must be
 * unmounted). A device already gone is not an error. The block device underneath is not
 * the FaultyDevice's and is left alone.
 */
export class FaultyDevice {
  readonly #dm: DeviceMapper;
  readonly #id: DeviceIdentity;
  readonly #device: string;
  readonly #offsetSectors: bigint;
  readonly #sizeSectors: bigint;
  readonly #timeoutMs: number;

  private constructor(dm: DeviceMapper, id: DeviceIdentity, device: string, offsetSectors: bigint, sizeSectors: bigint, timeoutMs: number) {
    this.#dm = dm;
    this.#id = id;
    this.#device = device;
    this.#offsetSectors = offsetSectors;
    this.#sizeSectors = sizeSectors;
    this.#timeoutMs = timeoutMs;
  }

  /** Its device-mapper name. */
  get name(): string { return this.#id.name; }
  /** Its uuid (`FAULTY-<name>`). */
  get uuid(): string | null { return this.#id.uuid; }
  /** Its device number. */
  get dev(): { readonly major: number; readonly minor: number } { return { major: this.#id.dev.major, minor: this.#id.dev.minor }; }
  /** `/dev/dm-<minor>`. */
  get path(): string { return `/dev/dm-${this.#id.dev.minor}`; }
  /** Its size in 512-byte sectors. */
  get sizeSectors(): bigint { return this.#sizeSectors; }
  /** The first sector used on the device underneath. */
  get offsetSectors(): bigint { return this.#offsetSectors; }

  /**
   * Creates the device as a linear passthrough of `device`. Without `sizeSectors` the
   * device's size comes from the client's backend (BLKGETSIZE64 on the host; the simulated
   * block device's on the simulator). `timeoutMs` bounds this call and is the default bound
   * of every later call on the device (default 10000). First, what operations of dead
   * processes left half-done on a device of this name or uuid (a switch that left it
   * suspended with a table staged, a create that left it without one: their intent records,
   * docs/crash-safety.md) is recovered, as `dm.recover()` would.
   */
  static async create(dm: DeviceMapper, options: CreateFaultyDeviceOptions): Promise<FaultyDevice> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, name: 'any', device: 'any', uuid: 'string', offsetSectors: 'any', sizeSectors: 'any' }, ['name', 'device']);
    if (typeof options.name !== 'string' || options.name.length === 0) throw new DmOperationError('INVALID_INPUT', 'name must be a non-empty string');
    if (typeof options.device !== 'string' || options.device.length === 0) throw new DmOperationError('INVALID_INPUT', 'device must be a block device path or major:minor');
    const uuid = options.uuid ?? `FAULTY-${options.name}`;
    if (Buffer.byteLength(uuid) > 128) throw new DmOperationError('INVALID_INPUT', `uuid ${JSON.stringify(uuid)} is over 128 bytes; give a shorter name or a uuid`);
    const offsetSectors = u64(options.offsetSectors ?? 0, 'offsetSectors');
    const given = options.sizeSectors === undefined ? undefined : u64(options.sizeSectors, 'sizeSectors');
    if (given === 0n) throw new DmOperationError('INVALID_INPUT', 'sizeSectors must be at least 1');
    const io = blockIoFor(dm, 'dm');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const name = options.name;
    const device = options.device;
    return runOn(dm, 'FaultyDevice.create', { signal: options.signal, timeoutMs }, async (op) => {
      await op.step('recovering', () => recover(dm, { signal: op.signal }, recordsNaming((d) => d.uuid === uuid || d.name === name)));
      let sizeSectors = given;
      if (sizeSectors === undefined) {
        const size = (await op.step(`size of ${device}`, () => io.sizeBytes(device))) / 512n;
        if (size <= offsetSectors) throw new DmOperationError('INVALID_INPUT', `offsetSectors ${offsetSectors} is past the end of ${device} (${size} sectors)`);
        sizeSectors = size - offsetSectors;
      }
      const table = toTargetSpecs([{ start: 0, length: sizeSectors, type: 'linear', device, offsetSectors }]);
      const id = await createStep(op, dm, { name, uuid, table }, `creating ${name}`);
      return new FaultyDevice(dm, id, device, offsetSectors, sizeSectors, timeoutMs);
    });
  }

  #run<T>(name: string, options: FaultyDeviceCallOptions & { retries?: number }, body: (op: Operation) => Promise<T>): Promise<T> {
    return runOn(this.#dm, `FaultyDevice.${name}`, { signal: options.signal, timeoutMs: options.timeoutMs ?? this.#timeoutMs, retries: options.retries }, body);
  }

  /** The behaviour the kernel's live table has now. */
  async mode(options: FaultyDeviceCallOptions = {}): Promise<FaultMode> {
    optionsArg(options, 'options', CALL_OPTIONS);
    return this.#run('mode', options, (op) => this.#mode(op));
  }

  async #mode(op: Operation): Promise<FaultMode> {
    const t = await op.step('table', () => this.#dm.table(addressOf(this.#id)));
    op.check('table', this.#id, t.device);
    const line = t.targets[0];
    if (t.targets.length !== 1 || !line) throw new DmOperationError('WRONG_TARGET', `${this.name} has ${t.targets.length} table lines, not one`);
    return modeOfLine(line);
  }

  /**
   * Switches the live table to `mode`: load, suspend (noflush where the kernel has it, no
   * filesystem freeze), resume. If a step fails, the signal aborts, `timeoutMs` passes or
   * the client is closed, the loaded table is dropped and the device resumed (by its uuid)
   * with its old behaviour. Returns the mode read back from the kernel. A device someone else
   * holds suspended is refused with `DmOperationError` EBUSY before anything is loaded: our
   * resume would restart its I/O in the middle of their work (docs/thin-and-faults.md).
   */
  async setMode(mode: FaultMode, options: FaultyDeviceCallOptions = {}): Promise<FaultMode> {
    const line = this.#lineOf(mode); // validates before any syscall
    optionsArg(options, 'options', CALL_OPTIONS);
    const noflush = compareVersions(this.#dm.kernelVersion, FEATURES.noflush) >= 0;
    const flags = { noflush, skipLockfs: true };
    return this.#run('setMode', options, async (op) => {
      const before = await op.step(`info of ${this.name}`, () => this.#dm.info(addressOf(this.#id)));
      if (before.exists) op.check('info', this.#id, before);
      if (before.exists && before.flags.suspended) throw this.#heldSuspended();
      const loaded = await loadStep(op, this.#dm, this.#id, toTargetSpecs([line]), `loading ${mode.kind} into ${this.name}`);
      // Suspended between the info and the load: refused the same way (the undo drops our table).
      if (loaded.flags.suspended) throw this.#heldSuspended();
      await suspendStep(op, this.#dm, this.#id, flags, `suspending ${this.name}`, true, loaded);
      await resumeStep(op, this.#dm, this.#id, flags, `resuming ${this.name}`);
      op.commit();
      return this.#mode(op);
    });
  }

  #heldSuspended(): DmOperationError {
    return new DmOperationError('EBUSY', `${this.name} is suspended by someone else; its mode is not changed (resuming it would restart its I/O under them)`);
  }

  /** Back to the linear passthrough. */
  restore(options: FaultyDeviceCallOptions = {}): Promise<FaultMode> { return this.setMode({ kind: 'passthrough' }, options); }
  /** Every read and write fails with EIO (dm-error). */
  failAll(options: FaultyDeviceCallOptions = {}): Promise<FaultMode> { return this.setMode({ kind: 'fail-all' }, options); }
  /** Writes fail with EIO, reads pass (dm-flakey error_writes, always down). */
  failWrites(options: FaultyDeviceCallOptions = {}): Promise<FaultMode> { return this.setMode({ kind: 'fail-writes' }, options); }
  /** Writes succeed but are not stored (dm-flakey drop_writes, always down). */
  dropWrites(options: FaultyDeviceCallOptions = {}): Promise<FaultMode> { return this.setMode({ kind: 'drop-writes' }, options); }
  /** One byte of each bio overwritten (dm-flakey corrupt_bio_byte, always down). */
  corrupt(c: Corruption, options: FaultyDeviceCallOptions = {}): Promise<FaultMode> {
    optionsArg(c, 'corruption', { byte: 'any', direction: 'any', value: 'any', flags: 'any' }, ['byte', 'direction', 'value']);
    return this.setMode({ kind: 'corrupt', ...c }, options);
  }
  /** Reads and writes delayed (dm-delay). */
  delay(d: { readMs: number; writeMs?: number }, options: FaultyDeviceCallOptions = {}): Promise<FaultMode> {
    optionsArg(d, 'delay', { readMs: 'any', writeMs: 'any' }, ['readMs']);
    return this.setMode({ kind: 'delay', readMs: d.readMs, writeMs: d.writeMs ?? d.readMs }, options);
  }
  /** Up/down intervals (dm-flakey). */
  intervals(i: { upSeconds: number; downSeconds: number; down?: FaultBehaviour }, options: FaultyDeviceCallOptions = {}): Promise<FaultMode> {
    optionsArg(i, 'intervals', { upSeconds: 'any', downSeconds: 'any', down: 'any' }, ['upSeconds', 'downSeconds']);
    return this.setMode({ kind: 'intervals', upSeconds: i.upSeconds, downSeconds: i.downSeconds, down: i.down ?? { kind: 'fail-all' } }, options);
  }

  /** Removes the device (EBUSY retries; it must be unmounted). */
  async remove(options: FaultyDeviceCallOptions & { retries?: number } = {}): Promise<void> {
    optionsArg(options, 'options', { ...CALL_OPTIONS, retries: 'any' });
    await this.#run('remove', options, (op) => op.step(`removing ${this.name}`, () => this.#dm.removeDevice(addressOf(this.#id), { retries: options.retries, signal: op.signal, expect: this.#id })));
  }

  /** Removes the device if it is still there (see the class's doc). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#run('dispose', {}, (op) => op.step(`removing ${this.name}`, () => removeIfThere(this.#dm, addressOf(this.#id), { signal: op.signal, expect: this.#id })));
  }

  #lineOf(mode: FaultMode): TypedTarget {
    const head = { start: 0, length: this.#sizeSectors };
    const device = this.#device;
    const offset = this.#offsetSectors;
    switch (mode?.kind) {
      case 'passthrough': return { ...head, type: 'linear', device, offsetSectors: offset };
      case 'fail-all': return { ...head, type: 'error' };
      case 'fail-writes': case 'drop-writes': case 'corrupt':
        // up 0, down 1: always down (flakey_map: elapsed % (up + down) >= up).
        return { ...head, type: 'flakey', device, offsetSectors: offset, upSeconds: 0, downSeconds: 1, ...behaviourFeatures(mode) };
      case 'delay': {
        const readMs = int(mode.readMs, 'readMs', 0, U32);
        const writeMs = int(mode.writeMs, 'writeMs', 0, U32);
        return { ...head, type: 'delay', read: { device, offsetSectors: offset, delayMs: readMs }, write: { device, offsetSectors: offset, delayMs: writeMs } };
      }
      case 'intervals': {
        const up = int(mode.upSeconds, 'upSeconds', 1, U32);
        const down = int(mode.downSeconds, 'downSeconds', 1, U32);
        if (up + down > U32) throw new DmOperationError('INVALID_INPUT', 'upSeconds + downSeconds must fit in 32 bits');
        if (!mode.down || !['fail-all', 'fail-writes', 'drop-writes', 'corrupt'].includes(mode.down.kind)) {
          throw new DmOperationError('INVALID_INPUT', 'down must be fail-all, fail-writes, drop-writes or corrupt');
        }
        return { ...head, type: 'flakey', device, offsetSectors: offset, upSeconds: up, downSeconds: down, ...behaviourFeatures(mode.down) };
      }
      default:
        throw new DmOperationError('INVALID_INPUT', `unknown fault mode ${JSON.stringify((mode as { kind?: unknown } | undefined)?.kind)}`);
    }
  }
}

/** flakey features for a behaviour. fail-all: none (every kernel then errors reads and writes). */
function behaviourFeatures(b: FaultBehaviour): { dropWrites?: true; errorWrites?: true; corruptBioByte?: { byte: number; direction: 'r' | 'w'; value: number; flags: number } } {
  switch (b.kind) {
    case 'fail-all': return {};
    case 'fail-writes': return { errorWrites: true };
    case 'drop-writes': return { dropWrites: true };
    case 'corrupt': {
      if (b.direction !== 'read' && b.direction !== 'write') throw new DmOperationError('INVALID_INPUT', `direction must be read or write, got ${String(b.direction)}`);
      return {
        corruptBioByte: {
          byte: int(b.byte, 'byte', 1, U32), direction: b.direction === 'read' ? 'r' : 'w', value: int(b.value, 'value', 0, 255), flags: int(b.flags ?? 0, 'flags', 0, U32),
        },
      };
    }
    default: throw new DmOperationError('INVALID_INPUT', `unknown behaviour ${JSON.stringify((b as { kind?: unknown }).kind)}`);
  }
}

/** The mode a live table line means (devices as the kernel prints them). */
export function modeOfLine(line: { start: number | bigint; length: number | bigint; type: string; params: string }): FaultMode {
  if (line.type === 'linear') return { kind: 'passthrough' };
  if (line.type === 'error') return { kind: 'fail-all' };
  const p = parseTarget(line);
  if (p.type === 'delay') return { kind: 'delay', readMs: p.read.delayMs, writeMs: (p.write ?? p.read).delayMs };
  if (p.type === 'flakey') {
    let down: FaultBehaviour;
    if (p.corruptBioByte) {
      const c = p.corruptBioByte;
      down = { kind: 'corrupt', byte: c.byte, direction: c.direction === 'r' ? 'read' : 'write', value: c.value, flags: c.flags };
    } else if (p.dropWrites) down = { kind: 'drop-writes' };
    else if (p.errorWrites && !p.errorReads) down = { kind: 'fail-writes' };
    else down = { kind: 'fail-all' }; // no feature (6.1) or error_reads error_writes (6.6+)
    return p.upSeconds === 0 ? down : { kind: 'intervals', upSeconds: p.upSeconds, downSeconds: p.downSeconds, down };
  }
  throw new DmOperationError('WRONG_TARGET', `a ${line.type} table is not a FaultyDevice mode`);
}

