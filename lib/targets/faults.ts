/** flakey and delay: fault injection (dm-flakey.rst, delay.rst). */
import { z } from 'zod';
import { Cursor } from './common.js';
import { deviceSchema, u32Schema, u64Schema } from './schemas.js';
import { emptyStatus, type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** flakey's `corrupt_bio_byte` feature: which byte, which direction, what value. */
export interface CorruptBioByte {
  /** 1-based byte offset inside each bio's data (0 is not allowed by the kernel). */
  readonly byte: number;
  readonly direction: 'r' | 'w';
  readonly value: number;
  readonly flags: number;
}

/** The `flakey` target's parameters. */
export interface FlakeyParams {
  readonly device: string;
  /** Where on `device` the mapping starts, in 512-byte sectors. */
  readonly offsetSectors: bigint;
  /** Seconds the device behaves (the table's `<up interval>`; the kernel takes seconds). */
  readonly upSeconds: number;
  /** Seconds it misbehaves (`<down interval>`). */
  readonly downSeconds: number;
  /** Kernel 6.6+. */
  readonly errorReads?: true;
  readonly dropWrites?: true;
  readonly errorWrites?: true;
  readonly corruptBioByte?: CorruptBioByte;
  /** Probability in 1/1000000000 units (kernel 6.7+). */
  readonly randomReadCorrupt?: number;
  readonly randomWriteCorrupt?: number;
}

const flag = z.boolean().optional();


/**
 * The `flakey` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface FlakeyInput {
  /** The device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where on `device` the mapping starts, in 512-byte sectors. */
  readonly offsetSectors: number | bigint;
  /** Seconds the device behaves (the table's `<up interval>`; the kernel takes seconds). */
  readonly upSeconds: number;
  /** Seconds it misbehaves (`<down interval>`). */
  readonly downSeconds: number;
  /** Kernel 6.6+. */
  readonly errorReads?: boolean;
  /** `true` adds the `drop_writes` option word. */
  readonly dropWrites?: boolean;
  /** `true` adds the `error_writes` option word. */
  readonly errorWrites?: boolean;
  /** Corrupts byte `byte` (1-based) of matching bios to `value` (`corrupt_bio_byte`); `flags` filters bios by their flags. */
  readonly corruptBioByte?: CorruptBioByte;
  /** Probability in 1/1000000000 units (kernel 6.7+). */
  readonly randomReadCorrupt?: number;
  /** Probability in 1/1000000000 units (kernel 6.7+). */
  readonly randomWriteCorrupt?: number;
}
/** One `flakey` table line as a builder takes it: the line head and {@link FlakeyInput}. */
export interface FlakeyTarget extends LineHead<'flakey'>, FlakeyInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link FlakeyInput} agree. */
export const flakeyUnit = defineTarget({
  type: 'flakey',
  shape: {
    device: deviceSchema,
    offsetSectors: u64Schema,
    upSeconds: u32Schema,
    downSeconds: u32Schema,
    errorReads: flag,
    dropWrites: flag,
    errorWrites: flag,
    corruptBioByte: z.strictObject({
      byte: z.number().int().min(1).max(0xffffffff),
      direction: z.enum(['r', 'w']),
      value: z.number().int().min(0).max(255),
      flags: u32Schema,
    }).optional(),
    randomReadCorrupt: z.number().int().min(1).max(1_000_000_000).optional(),
    randomWriteCorrupt: z.number().int().min(1).max(1_000_000_000).optional(),
  },
  check(t, ctx) {
    if (t.dropWrites && t.errorWrites) ctx.addIssue({ code: 'custom', message: 'dropWrites and errorWrites are mutually exclusive', path: ['errorWrites'] });
  },
  render(t, ctx) {
    const feats: string[] = [];
    if (t.errorReads) feats.push('error_reads');
    if (t.dropWrites) feats.push('drop_writes');
    if (t.errorWrites) feats.push('error_writes');
    const b = t.corruptBioByte;
    if (b) feats.push('corrupt_bio_byte', String(b.byte), b.direction, String(b.value), String(b.flags));
    if (t.randomReadCorrupt !== undefined) feats.push('random_read_corrupt', String(t.randomReadCorrupt));
    if (t.randomWriteCorrupt !== undefined) feats.push('random_write_corrupt', String(t.randomWriteCorrupt));
    // The kernel prints the count even when it is 0; so does the builder.
    return [ctx.dev(t.device, 'device'), String(t.offsetSectors), String(t.upSeconds), String(t.downSeconds), String(feats.length), ...feats];
  },
  parse(c): FlakeyParams {
    const p: { -readonly [K in keyof FlakeyParams]: FlakeyParams[K] } = {
      device: c.dev('device'), offsetSectors: c.big('offsetSectors'), upSeconds: c.num('upSeconds'), downSeconds: c.num('downSeconds'),
    };
    if (!c.done) {
      const args = new Cursor(c.target, c.counted('features', 64).join(' '));
      while (!args.done) {
        const w = args.next('features');
        if (w === 'error_reads') p.errorReads = true;
        else if (w === 'drop_writes') p.dropWrites = true;
        else if (w === 'error_writes') p.errorWrites = true;
        else if (w === 'corrupt_bio_byte') {
          p.corruptBioByte = {
            byte: args.num('corruptBioByte.byte'), direction: args.oneOf('corruptBioByte.direction', ['r', 'w'] as const),
            value: args.num('corruptBioByte.value', 255), flags: args.num('corruptBioByte.flags'),
          };
        } else if (w === 'random_read_corrupt') p.randomReadCorrupt = args.num('randomReadCorrupt');
        else if (w === 'random_write_corrupt') p.randomWriteCorrupt = args.num('randomWriteCorrupt');
        else args.fail('BAD_VALUE', 'features', 'unknown feature', w);
      }
    }
    c.end();
    return p;
  },
  // Since 6.6 a flakey table with no read/write behaviour errors both (flakey still says v1.5.0).
  defaults(p, ctx): FlakeyParams {
    const k = ctx.kernel;
    const newer = !!k && (k[0] > 4 || (k[0] === 4 && k[1] >= 48));
    const none = !p.errorReads && !p.dropWrites && !p.errorWrites && !p.corruptBioByte && p.randomReadCorrupt === undefined && p.randomWriteCorrupt === undefined;
    return newer && none ? { ...p, errorReads: true as const, errorWrites: true as const } : p;
  },
  status: emptyStatus,
});

/** The `flakey` target: builder, table parser and status parser. */
export const flakey: TargetUnit<'flakey', FlakeyInput, FlakeyParams, EmptyStatus> = flakeyUnit;

/** One class (reads, writes or flushes) of a `delay` target: device, offset, delay. */
export interface DelayClass {
  readonly device: string;
  /** Where on `device` the mapping starts, in 512-byte sectors. */
  readonly offsetSectors: bigint;
  /** How long each bio of the class is held, in milliseconds. */
  readonly delayMs: number;
}
/** The `delay` target's parameters. */
export interface DelayParams {
  readonly read: DelayClass;
  /** Writes (and flushes, unless `flush` is given); defaults to the read class. */
  readonly write?: DelayClass;
  readonly flush?: DelayClass;
}
/** The `delay` target's status. */
export interface DelayStatus {
  readonly readsInFlight: number;
  readonly writesInFlight: number;
  /** Absent on kernels that report two counters. */
  readonly flushesInFlight: number | undefined;
  readonly extra: readonly string[];
}

const delayClass = z.strictObject({ device: deviceSchema, offsetSectors: u64Schema, delayMs: u32Schema });

function readClass(c: Cursor, name: string): DelayClass {
  return { device: c.dev(`${name}.device`), offsetSectors: c.big(`${name}.offsetSectors`), delayMs: c.num(`${name}.delayMs`) };
}

/** One class (reads, writes or flushes) of a `delay` builder input. */
export interface DelayClassInput {
  /** The device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where on `device` the mapping starts, in 512-byte sectors. */
  readonly offsetSectors: number | bigint;
  /** How long each bio of the class is held, in milliseconds. */
  readonly delayMs: number;
}
/**
 * The `delay` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface DelayInput {
  /** The read class: device, offset in 512-byte sectors (`offsetSectors`) and delay in milliseconds (`delayMs`). */
  readonly read: DelayClassInput;
  /** Writes (and flushes, unless `flush` is given); defaults to the read class. */
  readonly write?: DelayClassInput;
  /** The flush class, as `read`; needs a write class. */
  readonly flush?: DelayClassInput;
}
/** One `delay` table line as a builder takes it: the line head and {@link DelayInput}. */
export interface DelayTarget extends LineHead<'delay'>, DelayInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link DelayInput} agree. */
export const delayUnit = defineTarget({
  type: 'delay',
  shape: { read: delayClass, write: delayClass.optional(), flush: delayClass.optional() },
  check(t, ctx) {
    if (t.flush && !t.write) ctx.addIssue({ code: 'custom', message: 'a flush class needs a write class', path: ['flush'] });
  },
  render(t, ctx) {
    const cls = (k: DelayClass | z.output<typeof delayClass>, n: string) => [ctx.dev(k.device, `${n}.device`), String(k.offsetSectors), String(k.delayMs)];
    return [...cls(t.read, 'read'), ...(t.write ? cls(t.write, 'write') : []), ...(t.flush ? cls(t.flush, 'flush') : [])];
  },
  parse(c): DelayParams {
    const read = readClass(c, 'read');
    const write = c.done ? undefined : readClass(c, 'write');
    const flush = c.done ? undefined : readClass(c, 'flush');
    c.end();
    return { read, ...(write ? { write } : {}), ...(flush ? { flush } : {}) };
  },
  status(c): DelayStatus {
    const readsInFlight = c.num('readsInFlight');
    const writesInFlight = c.num('writesInFlight');
    return { readsInFlight, writesInFlight, flushesInFlight: c.done ? undefined : c.num('flushesInFlight'), extra: c.rest() };
  },
});

/** `<dev> <offset> <ms>` [write class [flush class]]. */
export const delay: TargetUnit<'delay', DelayInput, DelayParams, DelayStatus> = delayUnit;
