/**
 * One target type as a small unit (AOSP libdm style): its input schema, how it renders its
 * own params, how it reads them back from the kernel's table text, which defaults the kernel
 * fills in, and its status parser.
 */
import { z } from 'zod';
import { carriesKeys } from '../../codec/index.js';
import { u64Schema, type Cursor, type RenderContext, type Token } from './common.js';

/** One target type's typed unit: schema, builder (`render`), table parser and status parser. */
export interface TargetUnit<T extends string = string, I = unknown, P = unknown, S = unknown> {
  readonly type: T;
  /** The params part of the input (no start/length/type), strict. */
  readonly schema: z.ZodType<I>;
  /** The whole line: `{ start, length, type, …params }`, compiled once. */
  readonly lineSchema: z.ZodType<I & LineHead<T>>;
  /**
   * May carry key material: the type is one of codec/secrets.ts's key-carrying targets
   * (crypt, integrity), which also says where in the params their keys sit. Read from
   * there, not declared per unit: codec errors mask keys too, and codec/ cannot import units.
   */
  readonly sensitive: boolean;
  /** The kernel accepts this target only in a read-only table (verity: "Device must be readonly"). */
  readonly readOnly: boolean;
  /** The params words of a validated input. */
  render(input: I, ctx: RenderContext): Token[];
  /** Reads the params of a table line as the kernel prints them; keys as bytes. */
  parse(c: Cursor): P;
  /** Fills in what the kernel would (normalise only). */
  defaults(p: P, ctx: DefaultsContext): P;
  /** Replaces key bytes by `{ redacted, size }`. */
  redact(p: P): P;
  /** Does this input carry key bytes? */
  hasKeys(input: I): boolean;
  /** Reads the INFO status text. */
  status(c: Cursor): S;
}

/** What normalise knows about the kernel the table is meant for. */
export interface DefaultsContext {
  /** The device-mapper interface version (`DeviceMapper.kernelVersion`), when known. */
  readonly kernel: readonly [number, number, number] | undefined;
}

/** The start, length and type of a table line. */
export interface LineHead<T extends string = string> {
  readonly start: number | bigint;
  readonly length: number | bigint;
  readonly type: T;
}

const identity = <X>(x: X): X => x;

/** Defines a target's typed unit from its zod schema, renderer and parsers. */
export function defineTarget<T extends string, Shape extends z.core.$ZodLooseShape, P, S>(def: {
  type: T;
  shape: Shape;
  check?: (input: z.output<z.ZodObject<Shape, z.core.$strict>>, ctx: z.RefinementCtx) => void;
  readOnly?: boolean;
  render(input: z.output<z.ZodObject<Shape, z.core.$strict>>, ctx: RenderContext): Token[];
  parse(c: Cursor): P;
  defaults?(p: P, ctx: DefaultsContext): P;
  redact?(p: P): P;
  hasKeys?(input: z.output<z.ZodObject<Shape, z.core.$strict>>): boolean;
  status(c: Cursor): S;
}): TargetUnit<T, z.output<z.ZodObject<Shape, z.core.$strict>>, P, S> {
  type I = z.output<z.ZodObject<Shape, z.core.$strict>>;
  let schema: z.ZodType<I> = z.strictObject(def.shape) as unknown as z.ZodType<I>;
  let lineSchema = z.strictObject({ ...def.shape, start: u64Schema, length: u64Schema, type: z.literal(def.type) }) as unknown as z.ZodType<I & LineHead<T>>;
  if (def.check) {
    const check = def.check;
    schema = schema.superRefine((v, ctx) => check(v, ctx));
    lineSchema = lineSchema.superRefine((v, ctx) => check(v, ctx));
  }
  return {
    type: def.type,
    schema,
    lineSchema,
    sensitive: carriesKeys(def.type),
    readOnly: def.readOnly ?? false,
    render: def.render,
    parse: def.parse,
    defaults: def.defaults ?? identity,
    redact: def.redact ?? identity,
    hasKeys: def.hasKeys ?? (() => false),
    status: def.status,
  };
}

/** The status of targets that report none (linear, zero, crypt…): anything there is kept. */
export interface EmptyStatus { readonly extra: readonly string[] }
export function emptyStatus(c: Cursor): EmptyStatus {
  return { extra: c.rest() };
}
