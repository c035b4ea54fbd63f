/**
 * The typed table API over all units: build (validate + render), parse table and status
 * lines, normalise builder input to what the kernel prints, and keep keys out of strings.
 */
import type { DeviceId, DeviceInfo, TargetSpecInput } from '../../codec/index.js';
import {
  Cursor, Secret, deviceNumbers, deviceToken, hasSecret, hex, tokensToBytes, tokensToString,
  type DeviceResolver, type RenderContext,
} from './common.js';
import { DmTargetError } from '../errors.js';
import { denseArray } from './common.js';
import { deviceArg } from '../client/args.js';
import { nodeResolver } from './resolve.js';
import type { LineHead, TargetUnit } from './unit.js';
import { error, linear, striped, zero, type ErrorTarget, type LinearTarget, type StripedTarget, type ZeroTarget } from './basic.js';
import { crypt, type CryptTarget } from './crypt.js';
import { verity, type VerityTarget } from './verity.js';
import { integrity, type IntegrityTarget } from './integrity.js';
import { thin, thinPool, type ThinPoolTarget, type ThinTarget } from './thin.js';
import { cache, era, writecache, type CacheTarget, type EraTarget, type WritecacheTarget } from './cache.js';
import { snapshot, snapshotMerge, snapshotOrigin, type SnapshotMergeTarget, type SnapshotOriginTarget, type SnapshotTarget } from './snapshot.js';
import { delay, flakey, type DelayTarget, type FlakeyTarget } from './faults.js';
import { mirror, raid, type MirrorTarget, type RaidTarget } from './raid.js';
import { multipath, type MultipathTarget } from './multipath.js';
import { clone, type CloneTarget } from './clone.js';
import { ebs, type EbsTarget } from './ebs.js';
import { vdo, type VdoTarget } from './vdo.js';

/** Every typed target, by kernel type name. */
export const TARGET_UNITS = {
  linear, striped, zero, error, crypt, verity, integrity,
  'thin-pool': thinPool, thin, cache, writecache, era,
  'snapshot-origin': snapshotOrigin, snapshot, 'snapshot-merge': snapshotMerge,
  flakey, delay, mirror, raid, multipath,
  clone, ebs, vdo,
} as const;

/** The typed units by target type; the types below compute the public ones from it (not exported: docs/api-reference.md). */
type Units = typeof TARGET_UNITS;
/** The name of a target type with a typed unit. */
export type TargetType = keyof Units;
/** zero/error have no params: `{}`, not an index signature of never. */
type Clean<X> = string extends keyof X ? {} : X;
/** A unit's parsed params (a step of ParsedTargetOf). */
type ParamsOf<U> = U extends TargetUnit<string, unknown, infer P, unknown> ? Clean<P> : never;
/** A unit's parsed status (a step of ParsedStatusOf). */
type StatusOf<U> = U extends TargetUnit<string, unknown, unknown, infer S> ? S : never;

/**
 * The builder input of every typed target, by kernel type name: each a named interface
 * (`ThinPoolTarget` = the line head and `ThinPoolInput`), so hovers and errors name it.
 */
export interface TypedTargets {
  /** {@link LinearTarget} */
  readonly linear: LinearTarget;
  /** {@link StripedTarget} */
  readonly striped: StripedTarget;
  /** {@link ZeroTarget} */
  readonly zero: ZeroTarget;
  /** {@link ErrorTarget} */
  readonly error: ErrorTarget;
  /** {@link CryptTarget} */
  readonly crypt: CryptTarget;
  /** {@link VerityTarget} */
  readonly verity: VerityTarget;
  /** {@link IntegrityTarget} */
  readonly integrity: IntegrityTarget;
  /** {@link ThinPoolTarget} */
  readonly 'thin-pool': ThinPoolTarget;
  /** {@link ThinTarget} */
  readonly thin: ThinTarget;
  /** {@link CacheTarget} */
  readonly cache: CacheTarget;
  /** {@link WritecacheTarget} */
  readonly writecache: WritecacheTarget;
  /** {@link EraTarget} */
  readonly era: EraTarget;
  /** {@link SnapshotOriginTarget} */
  readonly 'snapshot-origin': SnapshotOriginTarget;
  /** {@link SnapshotTarget} */
  readonly snapshot: SnapshotTarget;
  /** {@link SnapshotMergeTarget} */
  readonly 'snapshot-merge': SnapshotMergeTarget;
  /** {@link FlakeyTarget} */
  readonly flakey: FlakeyTarget;
  /** {@link DelayTarget} */
  readonly delay: DelayTarget;
  /** {@link MirrorTarget} */
  readonly mirror: MirrorTarget;
  /** {@link RaidTarget} */
  readonly raid: RaidTarget;
  /** {@link MultipathTarget} */
  readonly multipath: MultipathTarget;
  /** {@link CloneTarget} */
  readonly clone: CloneTarget;
  /** {@link EbsTarget} */
  readonly ebs: EbsTarget;
  /** {@link VdoTarget} */
  readonly vdo: VdoTarget;
}

/** One typed table line as a builder takes it: `{ start, length, type, …params }`. */
export type TypedTarget = TypedTargets[TargetType];
/** The builder input of one target type (`TypedTargetOf<'thin-pool'>` is {@link ThinPoolTarget}). */
export type TypedTargetOf<K extends TargetType> = TypedTargets[K];

/** One table line as parsed (and as `normalise` returns it): sectors as bigint, devices as `major:minor`. */
export type ParsedTargetOf<K extends TargetType> = ParamsOf<Units[K]> & { readonly start: bigint; readonly length: bigint; readonly type: K };
/** A parsed table line of any known target, discriminated by `type`. */
export type ParsedTarget = { [K in TargetType]: ParsedTargetOf<K> }[TargetType];

/** One status line, typed by target. */
export type ParsedStatusOf<K extends TargetType> = { readonly start: bigint; readonly length: bigint; readonly type: K; readonly status: StatusOf<Units[K]> };
/** A parsed status line of any known target, discriminated by `type`. */
export type ParsedStatus = { [K in TargetType]: ParsedStatusOf<K> }[TargetType];

/** A line as the client returns it (`TargetLine`) or as loaded. */
export interface RawLine { readonly start: number | bigint; readonly length: number | bigint; readonly type: string; readonly params: string }

/** Options of {@link parseTable} and {@link parseTarget}. */
export interface ParseOptions {
  /** Keep key bytes in parsed crypt/integrity params instead of `{ redacted: true, sizeBytes }`. */
  readonly showKeys?: boolean;
}

/** Options of {@link normalise}. */
export interface NormaliseOptions extends ParseOptions {
  /** Device path → numbers. Default: `nodeResolver` (stat the path's rdev). */
  readonly resolve?: DeviceResolver;
  /**
   * The device-mapper interface version of the kernel (`DeviceMapper.kernelVersion`), for
   * defaults that changed without a target version bump (flakey: see `normalise`).
   */
  readonly kernel?: readonly [number, number, number];
}

function unitOf(type: unknown): TargetUnit<string, unknown, unknown, unknown> {
  const u = typeof type === 'string' && Object.prototype.hasOwnProperty.call(TARGET_UNITS, type) ? TARGET_UNITS[type as TargetType] : undefined;
  if (!u) throw new DmTargetError('UNKNOWN_TARGET', String(type), 'no typed unit for this target type', 'type');
  return u as unknown as TargetUnit<string, unknown, unknown, unknown>;
}

function validate(unit: TargetUnit<string, unknown, unknown, unknown>, line: unknown): Record<string, unknown> & LineHead {
  const r = unit.lineSchema.safeParse(line);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join('.') || undefined;
    throw new DmTargetError('INVALID_INPUT', unit.type, `${field ?? 'input'}: ${issue.message}`, field);
  }
  return r.data as Record<string, unknown> & LineHead;
}

const buildContext: RenderContext = { dev: (ref) => deviceToken(ref), key: (bytes) => new Secret(bytes) };

/**
 * Validates one typed line and renders its params as raw tokens. Params are a string, or
 * bytes when the line carries key material (hex written straight into the bytes). The codec
 * escapes backslashes when it encodes the table; builders never do.
 */
export function buildTarget(line: TypedTarget): TargetSpecInput {
  const unit = unitOf((line as { type?: unknown } | null)?.type);
  const v = validate(unit, line);
  const tokens = unit.render(v, buildContext);
  return { start: v.start, length: v.length, type: unit.type, params: hasSecret(tokens) ? tokensToBytes(tokens) : tokensToString(tokens) };
}

/**
 * A typed table → the codec's `TargetSpecInput[]` for `DeviceMapper.load`/`createDevice`.
 * Contiguity, overlap, lengths and type names are checked by the codec at load time.
 */
export function toTargetSpecs(table: readonly TypedTarget[]): TargetSpecInput[] {
  const specs: TargetSpecInput[] = [];
  try {
    for (const line of denseArray(table, 'table', 'table')) specs.push(buildTarget(line as TypedTarget));
  } catch (e) {
    // A later line is invalid: the key bytes already built for earlier lines are wiped.
    wipeTargetSpecs(specs);
    throw e;
  }
  return specs;
}

/** True when a typed table carries key bytes: load it with `{ secure: true }`. */
export function tableNeedsSecure(table: readonly (TypedTarget | TargetSpecInput)[]): boolean {
  linesArg(table);
  return table.some((t) => {
    if ('params' in t && t.params instanceof Uint8Array) return true;
    const u = Object.prototype.hasOwnProperty.call(TARGET_UNITS, t.type) ? unitOf(t.type) : undefined;
    return !!u && u.sensitive && !('params' in t) && u.hasKeys(t);
  });
}

/** A dense array of objects, each with a string `type` (what the table predicates read). */
function linesArg(table: unknown, field = 'table'): void {
  denseArray(table, 'table', field).forEach((t, i) => {
    if (t === null || typeof t !== 'object' || typeof (t as { type?: unknown }).type !== 'string') throw invalid(`${field}[${i}]`, 'a table line with a string type');
  });
}

/** True when the table must be loaded with `readOnly: true`: a line's unit says so (verity). */
export function tableNeedsReadOnly(table: readonly { readonly type: string }[]): boolean {
  linesArg(table);
  return table.some((t) => Object.prototype.hasOwnProperty.call(TARGET_UNITS, t.type) && unitOf(t.type).readOnly);
}

/** Zero-fills the byte params of built specs (key material) once they have been loaded. */
export function wipeTargetSpecs(specs: readonly TargetSpecInput[]): void {
  linesArg(specs, 'specs');
  for (const s of specs) if (s.params instanceof Uint8Array) s.params.fill(0);
}

const invalid = (field: string, what: string) => new DmTargetError('INVALID_INPUT', 'table', `${field}: expected ${what}`, field);

/** Checks a line to parse: `{ start, length, type, params }` as the client returns them. */
function rawLineArg(line: unknown, field = 'line'): RawLine {
  if (line === null || typeof line !== 'object' || Array.isArray(line)) throw invalid(field, '{ start, length, type, params }');
  const l = line as Record<string, unknown>;
  for (const k of ['start', 'length'] as const) {
    const v = l[k];
    if (!((typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n))) throw invalid(`${field}.${k}`, 'a non-negative integer (number or bigint)');
  }
  if (typeof l.params !== 'string') throw invalid(`${field}.params`, 'a string');
  return l as unknown as RawLine;
}

const isVersion = (v: unknown) => Array.isArray(v) && v.length === 3 && [0, 1, 2].every((i) => Number.isSafeInteger(v[i]) && (v[i] as number) >= 0);

/** Checks options objects: undefined or an object of known keys (others refused) with the right types. */
function optionsCheck(options: unknown, kinds: Readonly<Record<string, 'boolean' | 'string' | 'function' | 'version' | 'any'>>): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid('options', 'an options object');
  for (const key in options) if (!Object.hasOwn(kinds, key)) throw invalid(`options.${key}`, `one of the options ${Object.keys(kinds).join(', ')}`);
  for (const [k, kind] of Object.entries(kinds)) {
    const v = (options as Record<string, unknown>)[k];
    if (v !== undefined && kind !== 'any' && !(kind === 'version' ? isVersion(v) : typeof v === kind)) throw invalid(`options.${k}`, kind === 'version' ? '[major, minor, patch]' : `a ${kind}`);
  }
}

/** Parses one table line (`DeviceMapper.table()` output) into its typed form. */
export function parseTarget(line: RawLine, options: ParseOptions = {}): ParsedTarget {
  rawLineArg(line);
  optionsCheck(options, { showKeys: 'boolean' });
  const unit = unitOf(line.type);
  const p = unit.parse(new Cursor(unit.type, line.params, unit.sensitive));
  const shown = options.showKeys ? p : unit.redact(p);
  return { start: BigInt(line.start), length: BigInt(line.length), type: unit.type, ...(shown as object) } as ParsedTarget;
}

/** Parses every line of a table ({@link DeviceMapper.table}'s `targets`) into typed targets. */
export function parseTable(lines: readonly RawLine[], options: ParseOptions = {}): ParsedTarget[] {
  return denseArray(lines, 'table', 'lines').map((l) => parseTarget(l as RawLine, options));
}

/** Parses one status line (`DeviceMapper.status()` output) into its typed form. */
export function parseStatus(line: RawLine): ParsedStatus {
  rawLineArg(line);
  const unit = unitOf(line.type);
  const status = unit.status(new Cursor(unit.type, line.params, unit.sensitive));
  return { start: BigInt(line.start), length: BigInt(line.length), type: unit.type, status } as ParsedStatus;
}

/**
 * What `parseTarget` returns for the kernel's table output of this builder input.
 *
 * - Device paths become `major:minor` as the kernel prints them (through `options.resolve`,
 *   default `nodeResolver`); `{ major, minor }` objects become the same string.
 * - Sectors become bigint; options are in the kernel's order and flags that are off are omitted.
 * - Defaults the kernel fills in are filled in: integrity's interleave/buffer sectors, journal
 *   watermark and commit time (or bitmap sectors-per-bit and flush interval); crypt drops
 *   `sector_size:512`; cache gets empty policy args; multipath round-robin's repeat count is 1;
 *   a flakey table without any read/write feature gets `error_reads error_writes` when
 *   `options.kernel` is dm 4.48 or newer (6.6+ kernels do this; flakey stayed v1.5.0, so the
 *   interface version is the only hint; 6.4–6.5 kernels, also 4.48, are misjudged).
 *   integrity's `journalSectors` depends on the device size and is left as given (dropped
 *   outside mode J when `options.kernel` is dm 4.50 or newer: 7.3 prints it only in mode J).
 * - Keys are `{ redacted: true, sizeBytes }` unless `showKeys`.
 */
export function normalise(line: TypedTarget, options?: NormaliseOptions): ParsedTarget;
export function normalise(table: readonly TypedTarget[], options?: NormaliseOptions): ParsedTarget[];
export function normalise(input: TypedTarget | readonly TypedTarget[], options: NormaliseOptions = {}): ParsedTarget | ParsedTarget[] {
  optionsCheck(options, { showKeys: 'boolean', resolve: 'function', kernel: 'version' });
  if (Array.isArray(input)) return denseArray(input, 'table', 'table').map((l) => normalise(l as TypedTarget, options));
  const line = input as TypedTarget;
  const unit = unitOf((line as { type?: unknown } | null)?.type);
  const v = validate(unit, line);
  const resolve = options.resolve ?? nodeResolver;
  const ctx: RenderContext = {
    dev: (ref, field) => deviceNumbers(ref, unit.type, field, resolve),
    // Redacted output only needs the key's size: no key material enters a string then.
    key: (bytes) => (options.showKeys ? hex(bytes) : '00'.repeat(bytes.length)),
  };
  const p = unit.defaults(unit.parse(new Cursor(unit.type, tokensToString(unit.render(v, ctx)), unit.sensitive)), { kernel: options.kernel });
  const shown = options.showKeys ? p : unit.redact(p);
  return { start: BigInt(v.start), length: BigInt(v.length), type: unit.type, ...(shown as object) } as ParsedTarget;
}

/** The part of `DeviceMapper` the helpers below use. */
export interface TableLoader {
  /** Loads a table into the inactive slot (as {@link DeviceMapper.load}). */
  load(device: DeviceId | string, targets: readonly TargetSpecInput[], options?: { readOnly?: boolean; secure?: boolean } & TypedCallBounds): Promise<DeviceInfo>;
}

/** `signal` and `timeoutMs` of the typed-table helpers, handed to the client's call as they are. */
export interface TypedCallBounds {
  /** Ends the caller's wait (DmAbortError); an aborted signal rejects before any ioctl. */
  readonly signal?: AbortSignal | undefined;
  /** Ends the caller's wait after this many milliseconds (DmOperationError TIMEOUT). */
  readonly timeoutMs?: number | undefined;
}

/**
 * Builds a typed table and loads it; a table with keys is loaded with `secure: true` and the
 * built key bytes are wiped afterwards, whatever happens. A table with a verity target is
 * loaded read-only (the kernel refuses it otherwise).
 */
export async function loadTypedTable(dm: TableLoader, device: DeviceId | string, table: readonly TypedTarget[], options: { readOnly?: boolean } & TypedCallBounds = {}): Promise<DeviceInfo> {
  if (dm === null || typeof dm !== 'object' || typeof dm.load !== 'function') throw invalid('dm', 'a DeviceMapper (an object with load)');
  deviceArg(device);
  optionsCheck(options, { readOnly: 'boolean', signal: 'any', timeoutMs: 'any' });
  const specs = toTargetSpecs(table);
  try {
    // The bounds only when given: a TableLoader of the caller's may take no such keys.
    const bounds = options.signal === undefined && options.timeoutMs === undefined ? {} : { signal: options.signal, timeoutMs: options.timeoutMs };
    return await dm.load(device, specs, { readOnly: options.readOnly || tableNeedsReadOnly(specs), secure: tableNeedsSecure(specs), ...bounds });
  } finally {
    wipeTargetSpecs(specs);
  }
}

/** The part of `DeviceMapper` `createTypedDevice` uses. */
export interface DeviceCreator {
  /** Creates, loads and resumes a device (as {@link DeviceMapper.createDevice}). */
  createDevice(options: { name: string; uuid?: string; table: readonly TargetSpecInput[]; readOnly?: boolean; secure?: boolean } & TypedCallBounds): Promise<DeviceInfo>;
}

/**
 * `DeviceMapper.createDevice` with a typed table: secure when keys are present, key bytes
 * wiped after, read-only when a target requires it (verity).
 */
export async function createTypedDevice(dm: DeviceCreator, options: { name: string; uuid?: string; table: readonly TypedTarget[]; readOnly?: boolean } & TypedCallBounds): Promise<DeviceInfo> {
  if (dm === null || typeof dm !== 'object' || typeof dm.createDevice !== 'function') throw invalid('dm', 'a DeviceMapper (an object with createDevice)');
  if (options === null || typeof options !== 'object') throw invalid('options', '{ name, table }');
  optionsCheck(options, { name: 'string', uuid: 'string', table: 'any', readOnly: 'boolean', signal: 'any', timeoutMs: 'any' });
  if (typeof options.name !== 'string') throw invalid('options.name', 'a string');
  const specs = toTargetSpecs(options.table);
  try {
    // The bounds only when given: a DeviceCreator of the caller's may take no such keys.
    const bounds = options.signal === undefined && options.timeoutMs === undefined ? {} : { signal: options.signal, timeoutMs: options.timeoutMs };
    return await dm.createDevice({ name: options.name, uuid: options.uuid, table: specs, readOnly: options.readOnly || tableNeedsReadOnly(specs), secure: tableNeedsSecure(specs), ...bounds });
  } finally {
    wipeTargetSpecs(specs);
  }
}
