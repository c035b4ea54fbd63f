/**
 * One target type as a small unit (AOSP libdm style): its input schema, how it renders its
 * own params, how it reads them back from the kernel's table text, which defaults the kernel
 * fills in, and its status parser.
 */
import type { Cursor, RenderContext, Token } from './common.js';

/** One target type's typed unit: schema, builder (`render`), table parser and status parser. */
export interface TargetUnit<T extends string = string, I = unknown, P = unknown, S = unknown> {
  readonly type: T;
  /** The params part of the input (no start/length/type), strict: a zod schema (see {@link TargetSchema}). */
  readonly schema: TargetSchema<I>;
  /** The whole line: `{ start, length, type, …params }`, compiled once: a zod schema (see {@link TargetSchema}). */
  readonly lineSchema: TargetSchema<I & LineHead<T>>;
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

/**
 * A unit's schema as its type names it: a zod schema at run time, typed by what the package
 * and a caller use of it, so that the root's declarations load none of zod's (a program that
 * imports `DeviceMapper` compiles without them). `defineTarget` (`devicemapper/define-target`)
 * builds one from a zod shape.
 */
export interface TargetSchema<O> {
  /** Validates a value: its output, or a `ZodError` thrown. */
  parse(value: unknown): O;
  /** Validates a value without throwing: its output, or the issues found. */
  safeParse(value: unknown): TargetSchemaResult<O>;
}

/** What {@link TargetSchema.safeParse} returns: zod's result, the parts the package reads. */
export type TargetSchemaResult<O> =
  | { readonly success: true; readonly data: O }
  | { readonly success: false; readonly error: { readonly issues: readonly TargetSchemaIssue[] } };

/** One validation issue: where (`path`, field names and indexes) and what. */
export interface TargetSchemaIssue {
  /** The path of the offending field in the input (`['stripes', 0, 'device']`). */
  readonly path: readonly PropertyKey[];
  /** What is wrong with it. */
  readonly message: string;
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

/** The status of targets that report none (linear, zero, crypt…): anything there is kept. */
export interface EmptyStatus { readonly extra: readonly string[] }
export function emptyStatus(c: Cursor): EmptyStatus {
  return { extra: c.rest() };
}
