/**
 * `openVerity` / `closeVerity`: a dm-verity device as `veritysetup open` makes it, from
 * explicit parameters (the hash tree's format is the caller's: `veritysetup format`, or the
 * package's own format and superblock reader). The table is built with the typed `verity`
 * target (lib/targets/verity.ts), so its text is veritysetup's for the same options (the
 * kernel prints it back in its own order); the device is made by the client's
 * `createDevice`, so the identity rule, its rollback and its intent record apply.
 *
 * A root hash signature (`signature`) is loaded into the kernel keyring as a `user` key
 * before the table (the verity constructor looks it up by description with `request_key`),
 * and unlinked once the device exists, or the open failed, whichever way (docs/verity-open.md,
 * "Signatures"). Its bytes go to `add_key` only: never into a table, an error or a trace.
 */
import type { DeviceInfo } from '../../codec/index.js';
import { KEY_SPEC_SESSION_KEYRING, KEY_SPEC_THREAD_KEYRING, KEY_SPEC_USER_SESSION_KEYRING } from '../../ffi/keyring.js';
import { optionsArg } from '../client/args.js';
import type { DeviceMapper } from '../client/client.js';
import { clientParts, keyringOf, operationHost } from '../client/internal-keys.js';
import { DmOperationError, DmUnsupportedError } from '../errors.js';
import { runOperation, type Operation, type OperationOptions } from '../operations/operation.js';
import { blockIoFor } from '../block/block-io.js';
import type { AttachedLoop, BlockIo } from '../kernel/backend.js';
import { LO_FLAGS_AUTOCLEAR } from '../../ffi/block.js';
import { buildTarget } from '../targets/table.js';
import type { VerityTarget } from '../targets/verity.js';
import { readVeritySuperblock, type VerityHeader } from './read.js';

/** The hash tree's parameters (what `veritysetup format` chose, or its superblock says). */
export interface VerityOpenParams {
  /** The hash format (`--format`): 1 as veritysetup, 0 as Chrome OS. */
  readonly version: 0 | 1;
  /** The hash algorithm (`--hash`), e.g. `sha256`. */
  readonly hashAlgorithm: string;
  /** Data block size in bytes (`--data-block-size`). */
  readonly dataBlockSizeBytes: number;
  /** Hash block size in bytes (`--hash-block-size`). */
  readonly hashBlockSizeBytes: number;
  /** Data blocks verified (`--data-blocks`); the device is this many blocks long. */
  readonly dataBlocks: bigint | number;
  /** Where the tree starts on the hash device, in hash blocks (the table's `<hash_start_block>`). Give this or `hashOffsetBytes`. */
  readonly hashStartBlocks?: bigint | number;
  /**
   * veritysetup's `--hash-offset` in bytes: where the superblock (or, with `noSuperblock`,
   * the tree) starts on the hash device. The tree then starts at the next hash block after
   * the 512-byte superblock (cryptsetup's VERITY_hash_offset_block).
   */
  readonly hashOffsetBytes?: bigint | number;
  /** With `hashOffsetBytes`: the hash device has no superblock (`--no-superblock`). */
  readonly noSuperblock?: boolean;
  /** The salt (`--salt`), bytes; empty for none. */
  readonly salt: Uint8Array;
}

/** What a corrupted block does, and how blocks are verified (each maps to one table option word). */
export interface VerityOpenFlags {
  /** `ignore_corruption` (`--ignore-corruption`): log and go on. */
  readonly ignoreCorruption?: boolean;
  /** `restart_on_corruption` (`--restart-on-corruption`). */
  readonly restartOnCorruption?: boolean;
  /** `panic_on_corruption` (`--panic-on-corruption`). */
  readonly panicOnCorruption?: boolean;
  /** `ignore_zero_blocks` (`--ignore-zero-blocks`). */
  readonly ignoreZeroBlocks?: boolean;
  /** `check_at_most_once` (`--check-at-most-once`). */
  readonly checkAtMostOnce?: boolean;
  /** `try_verify_in_tasklet` (`--use-tasklets`). */
  readonly useTasklets?: boolean;
}

/** Forward error correction (`--fec-device`, `--fec-roots`, `--fec-offset`). */
export interface VerityOpenFec {
  /** The FEC device: a path or `major:minor`. */
  readonly device: string;
  /** Reed-Solomon roots, 2…24. */
  readonly roots: number;
  /** Where the FEC data starts on its device, in blocks of `dataBlockSizeBytes` (`fec_start`). */
  readonly startBlocks: bigint | number;
  /** Blocks the FEC covers (`fec_blocks`): the data and hash blocks it protects. */
  readonly encodingBlocks: bigint | number;
}

/** Options of {@link openVerity}. */
export interface OpenVerityOptions extends OperationOptions {
  /** The device's name. */
  readonly name: string;
  /** The data device: a path or `major:minor`. */
  readonly dataDevice: string;
  /** The hash device: a path or `major:minor`. */
  readonly hashDevice: string;
  /** The root hash, bytes. */
  readonly rootHash: Uint8Array;
  /**
   * The hash tree's parameters (veritysetup's `--no-superblock` path). Without them the
   * hash device's superblock gives them, as `veritysetup open` reads it (at `hashOffsetBytes`),
   * and its UUID is the default `verityUuid`.
   */
  readonly params?: VerityOpenParams;
  /** Without `params`: where the superblock is on the hash device, in bytes (`--hash-offset`; default 0, a multiple of 512). */
  readonly hashOffsetBytes?: bigint | number;
  /** The root hash's PKCS#7 signature (`--root-hash-signature`'s file contents). */
  readonly signature?: Uint8Array;
  /** Corruption handling and verification options. */
  readonly options?: VerityOpenFlags;
  /** Forward error correction. */
  readonly fec?: VerityOpenFec;
  /** The verity superblock's UUID: veritysetup puts it into the device uuid and the key's description. */
  readonly verityUuid?: string;
  /** The device uuid; default veritysetup's, `CRYPT-VERITY-<verityUuid without dashes>-<name>` (or `CRYPT-VERITY-<name>`). */
  readonly uuid?: string;
  /** The signature key's description; default veritysetup's, `cryptsetup:<verityUuid>-<name>` (or `cryptsetup:<name>`). */
  readonly keyDescription?: string;
  /**
   * A data, hash or FEC device that is a regular file gets a loop device, read-only and
   * autoclear, and the table names the loop (as veritysetup does: default true). The same
   * file given twice gets one loop. The loops go away with the device (autoclear: the
   * table's hold is their last), and when the open fails at any step.
   * `false`: paths are put into the table as given.
   */
  readonly attachFiles?: boolean;
}

/** Options of {@link closeVerity} and {@link VerityDevice.close}. */
export interface CloseVerityOptions extends OperationOptions {
  /** Attempts on EBUSY (default 25). */
  readonly retries?: number;
  /** Delay between attempts in ms (default 200). */
  readonly delayMs?: number;
  /**
   * Deferred remove (`veritysetup close --deferred`): a device still open is removed at its
   * last close instead of failing with EBUSY (device-mapper 4.27+).
   */
  readonly deferred?: boolean;
}

/** An open verity device; `await using` closes it. */
export interface VerityDevice {
  /** The device's name. */
  readonly name: string;
  /** Its uuid. */
  readonly uuid: string;
  /** Its number. */
  readonly dev: { readonly major: number; readonly minor: number };
  /** `/dev/mapper/<name>`. */
  readonly path: string;
  /**
   * The loop devices openVerity attached to files (`attachFiles`), data's first: autoclear,
   * so they go when the device does. Empty when every device was a block device.
   */
  readonly loopDevices: readonly string[];
  /** Removes the device (by uuid); a device already gone is not an error. */
  close(options?: CloseVerityOptions): Promise<void>;
  /** As `close()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Which verity target version each option needs (cryptsetup lib/libdevmapper.c `_dm_set_verity_compat`). */
export const VERITY_OPTION_VERSIONS = {
  ignoreCorruption: [1, 3, 0], restartOnCorruption: [1, 3, 0], ignoreZeroBlocks: [1, 3, 0], fec: [1, 3, 0],
  checkAtMostOnce: [1, 4, 0], signature: [1, 5, 0], panicOnCorruption: [1, 7, 0], useTasklets: [1, 9, 0],
} as const satisfies Record<string, readonly [number, number, number]>;

const FLAG_KEYS = ['ignoreCorruption', 'restartOnCorruption', 'panicOnCorruption', 'ignoreZeroBlocks', 'checkAtMostOnce', 'useTasklets'] as const;

const atLeast = (v: readonly number[], need: readonly number[]) => v[0]! > need[0]! || (v[0] === need[0] && (v[1]! > need[1]! || (v[1] === need[1] && v[2]! >= need[2]!)));

const invalid = (message: string) => new DmOperationError('INVALID_INPUT', message);

function uint(v: unknown, what: string): bigint {
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw invalid(`${what} must be a non-negative integer (number or bigint)`);
}

/** The table's `<hash_start_block>` from the params (see VerityOpenParams). */
export function hashStartBlocksOf(p: VerityOpenParams): bigint {
  if ((p.hashStartBlocks === undefined) === (p.hashOffsetBytes === undefined)) throw invalid('params: give hashStartBlocks or hashOffsetBytes (one of them)');
  if (p.hashStartBlocks !== undefined) return uint(p.hashStartBlocks, 'params.hashStartBlocks');
  const offset = uint(p.hashOffsetBytes, 'params.hashOffsetBytes');
  const block = BigInt(p.hashBlockSizeBytes);
  if (p.noSuperblock === true) {
    if (offset % block !== 0n) throw invalid('params.hashOffsetBytes must be a multiple of hashBlockSizeBytes without a superblock');
    return offset / block;
  }
  return (offset + 512n + block - 1n) / block;
}

/** veritysetup's device uuid (cryptsetup lib/libdevmapper.c `dm_prepare_uuid`). */
export function verityDeviceUuid(name: string, verityUuid?: string): string {
  const id = verityUuid?.replaceAll('-', '');
  return `CRYPT-VERITY-${id ? `${id}-` : ''}${name}`;
}

/** veritysetup's key description (cryptsetup lib/verity/verity.c `VERITY_activate`). */
export function verityKeyDescription(name: string, verityUuid?: string): string {
  return `cryptsetup:${verityUuid ? `${verityUuid}-` : ''}${name}`;
}

/** The table line `openVerity` loads (exported for dry runs and tests). */
export function verityTableLine(o: OpenVerityOptions & { readonly params: VerityOpenParams }, keyDescription: string | undefined): VerityTarget {
  const p = o.params;
  const f = o.options ?? {};
  const corruption = [f.ignoreCorruption && 'ignore', f.restartOnCorruption && 'restart', f.panicOnCorruption && 'panic'].filter((x): x is 'ignore' | 'restart' | 'panic' => typeof x === 'string');
  if (corruption.length > 1) throw invalid('options: ignoreCorruption, restartOnCorruption and panicOnCorruption exclude each other');
  const dataBlocks = uint(p.dataBlocks, 'params.dataBlocks');
  if (!Number.isSafeInteger(p.dataBlockSizeBytes) || p.dataBlockSizeBytes < 512) throw invalid('params.dataBlockSizeBytes must be an integer of at least 512');
  const lengthSectors = dataBlocks * BigInt(p.dataBlockSizeBytes) / 512n;
  if (lengthSectors === 0n) throw invalid('params.dataBlocks must be at least 1');
  return {
    start: 0n, length: lengthSectors, type: 'verity',
    version: p.version, dataDevice: o.dataDevice, hashDevice: o.hashDevice,
    dataBlockSizeBytes: p.dataBlockSizeBytes, hashBlockSizeBytes: p.hashBlockSizeBytes,
    dataBlocks, hashStartBlocks: hashStartBlocksOf(p), algorithm: p.hashAlgorithm, rootDigest: o.rootHash, salt: p.salt,
    ...(corruption[0] ? { onCorruption: corruption[0] } : {}),
    ...(f.ignoreZeroBlocks ? { ignoreZeroBlocks: true } : {}),
    ...(f.checkAtMostOnce ? { checkAtMostOnce: true } : {}),
    ...(f.useTasklets ? { tryVerifyInTasklet: true } : {}),
    ...(o.fec ? { fec: { device: o.fec.device, roots: o.fec.roots, startBlocks: o.fec.startBlocks, encodingBlocks: o.fec.encodingBlocks } } : {}),
    ...(keyDescription !== undefined ? { rootHashSigKeyDesc: keyDescription } : {}),
  };
}

function checkOptions(o: OpenVerityOptions): void {
  optionsArg(o, 'options', {
    name: 'string', dataDevice: 'string', hashDevice: 'string', rootHash: 'any', params: 'object', hashOffsetBytes: 'u64', signature: 'any', options: 'object', fec: 'object',
    verityUuid: 'string', uuid: 'string', keyDescription: 'string', attachFiles: 'boolean', signal: 'signal', timeoutMs: 'any', onProgress: 'function',
  }, ['name', 'dataDevice', 'hashDevice', 'rootHash']);
  if (!(o.rootHash instanceof Uint8Array) || o.rootHash.length === 0) throw invalid('rootHash must be a non-empty Uint8Array');
  if (o.signature !== undefined && (!(o.signature instanceof Uint8Array) || o.signature.length === 0)) throw invalid('signature must be a non-empty Uint8Array');
  if (o.params === undefined) {
    if (o.hashOffsetBytes !== undefined && BigInt(o.hashOffsetBytes) % 512n !== 0n) throw invalid('hashOffsetBytes must be a multiple of 512');
  } else {
    if (o.hashOffsetBytes !== undefined) throw invalid('hashOffsetBytes is for the superblock; with params give params.hashOffsetBytes');
    checkParams(o.params);
  }
  if (o.options !== undefined) optionsArg(o.options, 'options.options', Object.fromEntries(FLAG_KEYS.map((k) => [k, 'boolean'])) as Record<(typeof FLAG_KEYS)[number], 'boolean'>);
  if (o.fec !== undefined) optionsArg(o.fec, 'options.fec', { device: 'string', roots: 'uint', startBlocks: 'any', encodingBlocks: 'any' }, ['device', 'roots', 'startBlocks', 'encodingBlocks']);
  if (o.keyDescription !== undefined && o.signature === undefined) throw invalid('keyDescription is only used with a signature');
}

function checkParams(p: VerityOpenParams): void {
  if (!(p.salt instanceof Uint8Array)) throw invalid('params.salt must be a Uint8Array (empty for none)');
  optionsArg(p, 'options.params', {
    version: 'any', hashAlgorithm: 'string', dataBlockSizeBytes: 'uint', hashBlockSizeBytes: 'uint', dataBlocks: 'any', hashStartBlocks: 'any',
    hashOffsetBytes: 'any', noSuperblock: 'boolean', salt: 'any',
  }, ['version', 'hashAlgorithm', 'dataBlockSizeBytes', 'hashBlockSizeBytes', 'dataBlocks', 'salt']);
}

/** The params a superblock gives (cryptsetup VERITY_read_sb: the tree starts after it). */
export function verityParamsOfSuperblock(sb: VerityHeader): VerityOpenParams {
  return {
    version: sb.hashType, hashAlgorithm: sb.hashAlgorithm, dataBlockSizeBytes: sb.dataBlockSizeBytes, hashBlockSizeBytes: sb.hashBlockSizeBytes,
    dataBlocks: sb.dataBlocks, hashOffsetBytes: sb.hashOffsetBytes, salt: sb.salt,
  };
}

/** The options the kernel's verity target must support for this open. */
function neededVersions(o: OpenVerityOptions): [string, readonly number[]][] {
  const out: [string, readonly number[]][] = [];
  for (const k of FLAG_KEYS) if (o.options?.[k] === true) out.push([k, VERITY_OPTION_VERSIONS[k]]);
  if (o.fec) out.push(['fec', VERITY_OPTION_VERSIONS.fec]);
  if (o.signature) out.push(['signature', VERITY_OPTION_VERSIONS.signature]);
  return out;
}

/**
 * Opens a dm-verity device as `veritysetup open` does: checks every argument (before any
 * syscall) and the kernel's verity target version for each option asked (DmUnsupportedError),
 * loads the signature key when there is one, creates the device read-only through
 * `createDevice` (uuid `CRYPT-VERITY-…` by default, so veritysetup's `status` and `close`
 * know it) and unlinks the key again. The returned handle closes the device on `await using`.
 */
export async function openVerity(dm: DeviceMapper, options: OpenVerityOptions): Promise<VerityDevice> {
  checkOptions(options);
  // With explicit params the table is checked before any syscall; without, once the superblock is read.
  const prepare = (o: OpenVerityOptions & { readonly params: VerityOpenParams }) => {
    const keyDescription = o.signature ? o.keyDescription ?? verityKeyDescription(o.name, o.verityUuid) : undefined;
    return { o, keyDescription, line: buildTarget(verityTableLine(o, keyDescription)), uuid: o.uuid ?? verityDeviceUuid(o.name, o.verityUuid) };
  };
  let attached: string[] = [];
  let prepared = options.params ? prepare(options as OpenVerityOptions & { readonly params: VerityOpenParams }) : undefined;
  const info = await runOperation(dm[operationHost](), 'openVerity', options, async (op): Promise<DeviceInfo> => {
    if (!prepared) {
      const sb = await op.step(`reading the verity superblock of ${options.hashDevice}`, () =>
        readVeritySuperblock(options.hashDevice, { dm, signal: op.signal, ...(options.hashOffsetBytes !== undefined ? { hashOffsetBytes: options.hashOffsetBytes } : {}) }));
      // veritysetup: the superblock's UUID names the device and the key unless the caller chose.
      prepared = prepare({ ...options, params: verityParamsOfSuperblock(sb), verityUuid: options.verityUuid ?? sb.uuid });
    }
    const { keyDescription, uuid } = prepared;
    let { line } = prepared;
    const needed = neededVersions(options);
    if (needed.length) {
      const v = await op.step('verity target version', () => dm.getTargetVersion('verity', { signal: op.signal }));
      for (const [what, need] of needed) {
        if (!atLeast(v, need)) throw new DmUnsupportedError(`verity ${what} (target verity ${need.join('.')})`, need as [number, number, number], v);
      }
    }
    const held: AttachedLoop[] = [];
    if (options.attachFiles !== false) {
      const paths = [options.dataDevice, options.hashDevice, ...(options.fec ? [options.fec.device] : [])];
      const loops = await attachFileLoops(op, blockIoFor(dm), paths, held);
      attached = held.map((l) => l.path);
      if (loops.size) {
        const at = (p: string) => loops.get(p) ?? p;
        const o = prepared.o;
        line = buildTarget(verityTableLine({ ...o, dataDevice: at(o.dataDevice), hashDevice: at(o.hashDevice), ...(o.fec ? { fec: { ...o.fec, device: at(o.fec.device) } } : {}) }, keyDescription));
      }
    }
    let key: { keyring: Awaited<ReturnType<DeviceMapper[typeof keyringOf]>>; serial: number; ring: number } | undefined;
    try {
      if (options.signature && keyDescription !== undefined) {
        const keyring = await dm[keyringOf]();
        op.checkpoint();
        // Not cryptsetup's thread keyring: the load ioctl runs on a libuv or engine thread, and
        // the kernel's request_key searches that thread's thread, process and session keyrings
        // (the process keyring is per thread once made). The session keyring, or the user's
        // session keyring, is meant to be what every thread searches; on 6.1 the load still
        // answered ENOKEY (docs/verity-open.md, "Signatures": open problem).
        // A blocking client makes the load on this thread: cryptsetup's thread keyring then.
        const ring = dm[clientParts]().runner.blocking ? KEY_SPEC_THREAD_KEYRING
          : keyring.keyringId(KEY_SPEC_SESSION_KEYRING) !== undefined ? KEY_SPEC_SESSION_KEYRING : KEY_SPEC_USER_SESSION_KEYRING;
        key = { keyring, ring, serial: keyring.addKey('user', keyDescription, options.signature, ring) };
      }
      const made = await op.step(`create ${options.name}`, () => dm.createDevice({ name: options.name, uuid, table: [line], readOnly: true, signal: op.signal }));
      // The table holds the loops now: their last close is the device's removal.
      for (const l of held) await l.release?.();
      return made;
    } finally {
      // Once the table is loaded the kernel holds its own copy of the signature: the key is
      // needed no longer, whether the open worked or not.
      if (key) { try { key.keyring.unlink(key.serial, key.ring); } catch { /* already gone */ } }
    }
  });
  return handle(dm, info, attached);
}

/**
 * veritysetup's loop devices for files (cryptsetup's crypt_loop_attach): each distinct path
 * that is a regular file on the client's backend gets a read-only autoclear loop, attached
 * through LOOP_CONFIGURE with its fd kept open. The kernel detaches an autoclear loop at its
 * last close: closing the attach's fd before the table holds the loop would detach it at once
 * (and the next file would get the same loop). So the fds stay open until the device exists
 * (`held`; openVerity releases them then), and the undo of each attach is that release: if
 * the open fails, the last close detaches the loop. A process that dies holding them closes
 * them too, so nothing is left behind either way.
 */
async function attachFileLoops(op: Operation, io: BlockIo, paths: readonly string[], held: AttachedLoop[]): Promise<Map<string, string>> {
  const loops = new Map<string, string>();
  for (const p of new Set(paths)) {
    // NodeOps.stat: 'other' is something that is there and is not a block device (a regular file).
    if (io.nodes.stat(p) !== 'other') continue;
    const request = { readOnly: true, flags: LO_FLAGS_AUTOCLEAR, offsetBytes: 0n, sizeLimitBytes: 0n, blockSizeBytes: 0, retries: 16, keepOpen: true };
    const a = await op.step(`attaching a loop device to ${p}`, () => io.attachLoop(p, request), {
      onLate: (late) => late.release?.(),
    });
    held.push(a);
    op.undo(`releasing ${a.path}`, async () => a.release?.());
    loops.set(p, a.path);
  }
  return loops;
}

function handle(dm: DeviceMapper, info: DeviceInfo, loopDevices: readonly string[]): VerityDevice {
  const uuid = info.uuid ?? '';
  let closed: Promise<void> | undefined;
  const close = (o: CloseVerityOptions = {}) => (closed ??= closeVerity(dm, { uuid, name: info.name }, o).catch((e: unknown) => { closed = undefined; throw e; }));
  return {
    name: info.name, uuid, dev: { major: info.dev.major, minor: info.dev.minor }, path: `/dev/mapper/${info.name}`, loopDevices,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

/**
 * Removes a verity device (`veritysetup close`): by uuid when given one (a device of another
 * uuid under the name is not touched). A device already gone is not an error.
 */
export async function closeVerity(dm: DeviceMapper, device: string | { readonly uuid: string; readonly name?: string }, options: CloseVerityOptions = {}): Promise<void> {
  optionsArg(options, 'options', { retries: 'uint', delayMs: 'uint', deferred: 'boolean', signal: 'signal', timeoutMs: 'any', onProgress: 'function' });
  const at = typeof device === 'string' ? { name: device } : { uuid: device.uuid };
  if (typeof device !== 'string' && (typeof device?.uuid !== 'string' || device.uuid === '')) throw invalid('device.uuid must be a non-empty string');
  try {
    await dm.removeDevice(at, options);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENXIO') return;
    throw e;
  }
}
