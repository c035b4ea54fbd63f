/**
 * devicemapper/define-target — `defineTarget`, which makes a typed target unit from a zod
 * shape, and the zod schemas the package's own units are built from. An entry point of its
 * own because it names zod: the root's declarations do not, so a program that imports only
 * `DeviceMapper` compiles without loading zod's types.
 */
import { z } from 'zod';
import { carriesKeys } from '../../codec/index.js';
import type { Cursor, RenderContext, Token } from './common.js';
import { u64Schema } from './schemas.js';
import type { DefaultsContext, LineHead, TargetUnit } from './unit.js';

export { deviceSchema, u64Schema } from './schemas.js';

/** A unit made by {@link defineTarget}: its schemas typed as the zod schemas they are. */
export interface ZodTargetUnit<T extends string = string, I = unknown, P = unknown, S = unknown> extends TargetUnit<T, I, P, S> {
  /** The params part of the input (no start/length/type), strict. */
  readonly schema: z.ZodType<I>;
  /** The whole line: `{ start, length, type, …params }`. */
  readonly lineSchema: z.ZodType<I & LineHead<T>>;
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
}): ZodTargetUnit<T, z.output<z.ZodObject<Shape, z.core.$strict>>, P, S> {
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

