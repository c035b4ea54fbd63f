/**
 * The typed table API over all units: build (validate + render), parse table and status
 * lines, normalise builder input to what the kernel prints, and keep keys out of strings.
 */
import type { DeviceId, DeviceInfo, TargetSpecInput } from '../../codec/index.js';
import {
  Cursor, Secret, deviceNumbers, deviceToken, hasSecret, hex, tokensToBytes, tokensToString,
  type DeviceResolver, type RenderContext,
} from './common.js';
import { DmTargetError } from './errors.js';
import { nodeResolver } from './resolve.js';
import type { LineHead, TargetUnit } from './unit.js';
import { error, linear, striped, zero } from './basic.js';
import { crypt } from './crypt.js';
import { verity } from './verity.js';
import { integrity } from './integrity.js';
import { thin, thinPool } from './thin.js';
import { cache, era, writecache } from './cache.js';
import { snapshot, snapshotMerge, snapshotOrigin } from './snapshot.js';
import { delay, flakey } from './faults.js';
import { mirror, raid } from './raid.js';
import { multipath } from './multipath.js';

/** Every typed target, by kernel type name. */
export const TARGET_UNITS = {
  linear, striped, zero, error, crypt, verity, integrity,
  'thin-pool': thinPool, thin, cache, writecache, era,
  'snapshot-origin': snapshotOrigin, snapshot, 'snapshot-merge': snapshotMerge,
  flakey, delay, mirror, raid, multipath,
} as const;

type Units = typeof TARGET_UNITS;
export type TargetType = keyof Units;
/** zero/error have no params: `{}`, not an index signature of never. */
type Clean<X> = string extends keyof X ? {} : X;
type InputOf<U> = U extends TargetUnit<infer T, infer I, unknown, unknown> ? Clean<I> & LineHead<T> : never;
type ParamsOf<U> = U extends TargetUnit<string, unknown, infer P, unknown> ? Clean<P> : never;
type StatusOf<U> = U extends TargetUnit<string, unknown, unknown, infer S> ? S : never;

/** One typed table line as a builder takes it: `{ start, length, type, …params }`. */
export type TypedTarget = { [K in TargetType]: InputOf<Units[K]> }[TargetType];
export type TypedTargetOf<K extends TargetType> = InputOf<Units[K]>;

/** One table line as parsed (and as `normalise` returns it): sectors as bigint, devices as `major:minor`. */
export type ParsedTargetOf<K extends TargetType> = ParamsOf<Units[K]> & { readonly start: bigint; readonly length: bigint; readonly type: K };
export type ParsedTarget = { [K in TargetType]: ParsedTargetOf<K> }[TargetType];

/** One status line, typed by target. */
export type ParsedStatusOf<K extends TargetType> = { readonly start: bigint; readonly length: bigint; readonly type: K; readonly status: StatusOf<Units[K]> };
export type ParsedStatus = { [K in TargetType]: ParsedStatusOf<K> }[TargetType];

/** A line as the client returns it (`TargetLine`) or as loaded. */
export interface RawLine { readonly start: number | bigint; readonly length: number | bigint; readonly type: string; readonly params: string }

export interface ParseOptions {
  /** Keep key bytes in parsed crypt/integrity params instead of `{ redacted: true, size }`. */
  readonly showKeys?: boolean;
}

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
    for (const line of table) specs.push(buildTarget(line));
  } catch (e) {
    // A later line is invalid: the key bytes already built for earlier lines are wiped.
    wipeTargetSpecs(specs);
    throw e;
  }
  return specs;
}

/** True when a typed table carries key bytes: load it with `{ secure: true }`. */
export function tableNeedsSecure(table: readonly (TypedTarget | TargetSpecInput)[]): boolean {
  return table.some((t) => {
    if ('params' in t && t.params instanceof Uint8Array) return true;
    const u = Object.prototype.hasOwnProperty.call(TARGET_UNITS, t.type) ? unitOf(t.type) : undefined;
    return !!u && u.sensitive && !('params' in t) && u.hasKeys(t);
  });
}

/** Targets the kernel only accepts in a read-only table (verity: "Device must be readonly"). */
export const READ_ONLY_TARGETS: ReadonlySet<string> = new Set(['verity']);

/** True when the table must be loaded with `readOnly: true`. */
export function tableNeedsReadOnly(table: readonly { readonly type: string }[]): boolean {
  return table.some((t) => READ_ONLY_TARGETS.has(t.type));
}

/** Zero-fills the byte params of built specs (key material) once they have been loaded. */
export function wipeTargetSpecs(specs: readonly TargetSpecInput[]): void {
  for (const s of specs) if (s.params instanceof Uint8Array) s.params.fill(0);
}

/** Parses one table line (`DeviceMapper.table()` output) into its typed form. */
export function parseTarget(line: RawLine, options: ParseOptions = {}): ParsedTarget {
  const unit = unitOf(line.type);
  const p = unit.parse(new Cursor(unit.type, line.params, unit.sensitive));
  const shown = options.showKeys ? p : unit.redact(p);
  return { start: BigInt(line.start), length: BigInt(line.length), type: unit.type, ...(shown as object) } as ParsedTarget;
}

export function parseTable(lines: readonly RawLine[], options: ParseOptions = {}): ParsedTarget[] {
  return lines.map((l) => parseTarget(l, options));
}

/** Parses one status line (`DeviceMapper.status()` output) into its typed form. */
export function parseStatus(line: RawLine): ParsedStatus {
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
 *   integrity's `journalSectors` depends on the device size and is left as given.
 * - Keys are `{ redacted: true, size }` unless `showKeys`.
 */
export function normalise(line: TypedTarget, options?: NormaliseOptions): ParsedTarget;
export function normalise(table: readonly TypedTarget[], options?: NormaliseOptions): ParsedTarget[];
export function normalise(input: TypedTarget | readonly TypedTarget[], options: NormaliseOptions = {}): ParsedTarget | ParsedTarget[] {
  if (Array.isArray(input)) return input.map((l) => normalise(l as TypedTarget, options));
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
  load(device: DeviceId | string, targets: readonly TargetSpecInput[], options?: { readOnly?: boolean; secure?: boolean }): Promise<DeviceInfo>;
}

/**
 * Builds a typed table and loads it; a table with keys is loaded with `secure: true` and the
 * built key bytes are wiped afterwards, whatever happens. A table with a verity target is
 * loaded read-only (the kernel refuses it otherwise).
 */
export async function loadTypedTable(dm: TableLoader, device: DeviceId | string, table: readonly TypedTarget[], options: { readOnly?: boolean } = {}): Promise<DeviceInfo> {
  const specs = toTargetSpecs(table);
  try {
    return await dm.load(device, specs, { readOnly: options.readOnly || tableNeedsReadOnly(specs), secure: tableNeedsSecure(specs) });
  } finally {
    wipeTargetSpecs(specs);
  }
}

/** The part of `DeviceMapper` `createTypedDevice` uses. */
export interface DeviceCreator {
  createDevice(options: { name: string; uuid?: string; table: readonly TargetSpecInput[]; readOnly?: boolean; secure?: boolean }): Promise<DeviceInfo>;
}

/**
 * `DeviceMapper.createDevice` with a typed table: secure when keys are present, key bytes
 * wiped after, read-only when a target requires it (verity).
 */
export async function createTypedDevice(dm: DeviceCreator, options: { name: string; uuid?: string; table: readonly TypedTarget[]; readOnly?: boolean }): Promise<DeviceInfo> {
  const specs = toTargetSpecs(options.table);
  try {
    return await dm.createDevice({ name: options.name, uuid: options.uuid, table: specs, readOnly: options.readOnly || tableNeedsReadOnly(specs), secure: tableNeedsSecure(specs) });
  } finally {
    wipeTargetSpecs(specs);
  }
}
