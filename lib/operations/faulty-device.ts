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
 * The device gets a uuid (`FAULTY-<name>` unless given) and every step after the first is
 * addressed by it; each reply is checked against the first step's name, uuid and dev.
 */
import { FEATURES, operationScope, type DeviceMapper } from '../client/client.js';
import { blockDeviceSectors } from '../block/loop-devices.js';
import { DmOperationError } from '../errors.js';
import { addressOf, bounded, checkIdentity, checkTimeout, clearQuietly, createBounded, identityOf, loadChecked, resumeChecked, type Identity } from './bounded-steps.js';
import { optionsArg } from '../client/args.js';
import { parseTarget, toTargetSpecs, type TypedTarget } from '../targets/table.js';
import { compareVersions } from '../client/runner.js';

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

/** Options of {@link FaultyDevice.create}. */
export interface CreateFaultyDeviceOptions {
  /** The new device's name. */
  readonly name: string;
  /** The block device underneath: a path or `major:minor`. */
  readonly device: string;
  /** Default `FAULTY-<name>`. */
  readonly uuid?: string;
  /** First sector used on the device (default 0). */
  readonly offset?: bigint | number;
  /** Sectors mapped (default: the device's size less the offset). */
  readonly sectors?: bigint | number;
  /** Bound on each kernel step in ms (default 10000). */
  readonly timeoutMs?: number;
  /** The device's size in sectors; default BLKGETSIZE64 (the simulator supplies its own). */
  readonly sizeOf?: (device: string) => Promise<bigint>;
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

/** A device whose I/O behaviour can be switched while it is in use. */
export class FaultyDevice {
  readonly #dm: DeviceMapper;
  readonly #id: Identity;
  readonly #device: string;
  readonly #offset: bigint;
  readonly #sectors: bigint;
  readonly #timeout: number;

  private constructor(dm: DeviceMapper, id: Identity, device: string, offset: bigint, sectors: bigint, timeout: number) {
    this.#dm = dm;
    this.#id = id;
    this.#device = device;
    this.#offset = offset;
    this.#sectors = sectors;
    this.#timeout = timeout;
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
  get sectors(): bigint { return this.#sectors; }

  /** Creates the device as a linear passthrough of `device`. */
  static async create(dm: DeviceMapper, options: CreateFaultyDeviceOptions): Promise<FaultyDevice> {
    optionsArg(options, 'options', { name: 'any', device: 'any', uuid: 'string', offset: 'any', sectors: 'any', timeoutMs: 'any', sizeOf: 'function' }, ['name', 'device']);
    if (typeof options.name !== 'string' || options.name.length === 0) throw new DmOperationError('INVALID_INPUT', 'name must be a non-empty string');
    if (typeof options.device !== 'string' || options.device.length === 0) throw new DmOperationError('INVALID_INPUT', 'device must be a block device path or major:minor');
    const uuid = options.uuid ?? `FAULTY-${options.name}`;
    if (Buffer.byteLength(uuid) > 128) throw new DmOperationError('INVALID_INPUT', `uuid ${JSON.stringify(uuid)} is over 128 bytes; give a shorter name or a uuid`);
    const timeout = checkTimeout(options.timeoutMs, 10_000);
    const offset = u64(options.offset ?? 0, 'offset');
    let sectors: bigint;
    if (options.sectors !== undefined) sectors = u64(options.sectors, 'sectors');
    else {
      const size = await (options.sizeOf ?? defaultSize)(options.device);
      if (size <= offset) throw new DmOperationError('INVALID_INPUT', `offset ${offset} is past the end of ${options.device} (${size} sectors)`);
      sectors = size - offset;
    }
    if (sectors === 0n) throw new DmOperationError('INVALID_INPUT', 'sectors must be at least 1');
    const table = toTargetSpecs([{ start: 0, length: sectors, type: 'linear', device: options.device, offset }]);
    const info = await createBounded(dm, { name: options.name, uuid, table }, timeout, `creating ${options.name}`);
    return new FaultyDevice(dm, identityOf(info), options.device, offset, sectors, timeout);
  }

  /** The behaviour the kernel's live table has now. */
  async mode(): Promise<FaultMode> {
    const t = await this.#dm.table(addressOf(this.#id));
    checkIdentity(this.#id, t.device, 'table');
    const line = t.targets[0];
    if (t.targets.length !== 1 || !line) throw new DmOperationError('WRONG_TARGET', `${this.name} has ${t.targets.length} table lines, not one`);
    return modeOfLine(line);
  }

  /**
   * Switches the live table to `mode`: load, suspend (noflush where the kernel has it, no
   * filesystem freeze), resume; each step bounded by `timeoutMs`. If a step fails the
   * loaded table is dropped and the device resumed with its old behaviour. Returns the mode
   * read back from the kernel.
   */
  async setMode(mode: FaultMode): Promise<FaultMode> {
    const line = this.#lineOf(mode); // validates before any syscall
    const address = addressOf(this.#id);
    const noflush = compareVersions(this.#dm.kernelVersion, FEATURES.noflush) >= 0;
    const flags = { noflush, skipLockfs: true };
    // An operation in flight for close(): the device is put back (resumed) even if the client is closed mid-way.
    await this.#dm[operationScope](async (undo) => {
      await loadChecked(this.#dm, this.#id, address, toTargetSpecs([line]), this.#timeout, `loading ${mode.kind} into ${this.name}`);
      const back = async () => {
        await clearQuietly(this.#dm, address, undo);
        await resumeChecked(this.#dm, this.#id, address, this.#timeout, `resuming ${this.name}`, 'undo: resume', flags, undo).catch(() => {});
      };
      try {
        checkIdentity(this.#id, await bounded(this.#dm.suspend(address, flags), this.#timeout, `suspending ${this.name}`, () => { void back(); }), 'suspend');
        await resumeChecked(this.#dm, this.#id, address, this.#timeout, `resuming ${this.name}`, 'resume', flags, undo);
      } catch (e) {
        await back();
        throw e;
      }
    });
    return this.mode();
  }

  /** Back to the linear passthrough. */
  restore(): Promise<FaultMode> { return this.setMode({ kind: 'passthrough' }); }
  /** Every read and write fails with EIO (dm-error). */
  failAll(): Promise<FaultMode> { return this.setMode({ kind: 'fail-all' }); }
  /** Writes fail with EIO, reads pass (dm-flakey error_writes, always down). */
  failWrites(): Promise<FaultMode> { return this.setMode({ kind: 'fail-writes' }); }
  /** Writes succeed but are not stored (dm-flakey drop_writes, always down). */
  dropWrites(): Promise<FaultMode> { return this.setMode({ kind: 'drop-writes' }); }
  /** One byte of each bio overwritten (dm-flakey corrupt_bio_byte, always down). */
  corrupt(c: Corruption): Promise<FaultMode> {
    optionsArg(c, 'corruption', { byte: 'any', direction: 'any', value: 'any', flags: 'any' }, ['byte', 'direction', 'value']);
    return this.setMode({ kind: 'corrupt', ...c });
  }
  /** Reads and writes delayed (dm-delay). */
  delay(d: { readMs: number; writeMs?: number }): Promise<FaultMode> {
    optionsArg(d, 'delay', { readMs: 'any', writeMs: 'any' }, ['readMs']);
    return this.setMode({ kind: 'delay', readMs: d.readMs, writeMs: d.writeMs ?? d.readMs });
  }
  /** Up/down intervals (dm-flakey). */
  intervals(i: { upSeconds: number; downSeconds: number; down?: FaultBehaviour }): Promise<FaultMode> {
    optionsArg(i, 'intervals', { upSeconds: 'any', downSeconds: 'any', down: 'any' }, ['upSeconds', 'downSeconds']);
    return this.setMode({ kind: 'intervals', upSeconds: i.upSeconds, downSeconds: i.downSeconds, down: i.down ?? { kind: 'fail-all' } });
  }

  /** Removes the device (EBUSY retries; it must be unmounted). */
  async remove(options: { retries?: number } = {}): Promise<void> {
    optionsArg(options, 'options', { retries: 'any' });
    await this.#dm.removeDevice(addressOf(this.#id), { retries: options.retries });
  }

  #lineOf(mode: FaultMode): TypedTarget {
    const head = { start: 0, length: this.#sectors };
    const device = this.#device;
    const offset = this.#offset;
    switch (mode?.kind) {
      case 'passthrough': return { ...head, type: 'linear', device, offset };
      case 'fail-all': return { ...head, type: 'error' };
      case 'fail-writes': case 'drop-writes': case 'corrupt':
        // up 0, down 1: always down (flakey_map: elapsed % (up + down) >= up).
        return { ...head, type: 'flakey', device, offset, upInterval: 0, downInterval: 1, ...behaviourFeatures(mode) };
      case 'delay': {
        const readMs = int(mode.readMs, 'readMs', 0, U32);
        const writeMs = int(mode.writeMs, 'writeMs', 0, U32);
        return { ...head, type: 'delay', read: { device, offset, delayMs: readMs }, write: { device, offset, delayMs: writeMs } };
      }
      case 'intervals': {
        const up = int(mode.upSeconds, 'upSeconds', 1, U32);
        const down = int(mode.downSeconds, 'downSeconds', 1, U32);
        if (up + down > U32) throw new DmOperationError('INVALID_INPUT', 'upSeconds + downSeconds must fit in 32 bits');
        if (!mode.down || !['fail-all', 'fail-writes', 'drop-writes', 'corrupt'].includes(mode.down.kind)) {
          throw new DmOperationError('INVALID_INPUT', 'down must be fail-all, fail-writes, drop-writes or corrupt');
        }
        return { ...head, type: 'flakey', device, offset, upInterval: up, downInterval: down, ...behaviourFeatures(mode.down) };
      }
      default:
        throw new DmOperationError('INVALID_INPUT', `unknown fault mode ${JSON.stringify((mode as { kind?: unknown } | undefined)?.kind)}`);
    }
  }
}

async function defaultSize(device: string): Promise<bigint> {
  if (/^\d+:\d+$/.test(device)) {
    const fs = await import('node:fs');
    return BigInt(fs.readFileSync(`/sys/dev/block/${device}/size`, 'utf8').trim());
  }
  return blockDeviceSectors(device);
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
    return p.upInterval === 0 ? down : { kind: 'intervals', upSeconds: p.upInterval, downSeconds: p.downInterval, down };
  }
  throw new DmOperationError('WRONG_TARGET', `a ${line.type} table is not a FaultyDevice mode`);
}

