/**
 * The zod building blocks of the target units' schemas, and `checked` for helpers that take
 * user values directly. Kept apart from common.ts so that only the declarations of
 * `devicemapper/define-target` name zod: the root's load none of zod's types.
 */
import { z } from 'zod';
import { DmTargetError } from '../errors.js';
import type { Bytes } from './common.js';

/** A device in a typed table: a path (`/dev/…`), `major:minor`, or `{ major, minor }`. */
export const deviceSchema = z.union([
  z.string().min(1).refine((s) => !/\s/.test(s), 'a device must not contain whitespace'),
  // Not strict: a DevNo from the client (`info.dev`, with `raw`) is a device too.
  z.object({ major: z.number().int().min(0).max(0xfff), minor: z.number().int().min(0).max(0xfffff) }),
]);

/** Sectors and other u64 values: a non-negative safe integer or bigint. */
export const u64Schema = z.union([
  z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  z.bigint().min(0n).max(0xffffffffffffffffn),
]);
export const u32Schema = z.number().int().min(0).max(0xffffffff);
export const posU32Schema = z.number().int().min(1).max(0xffffffff);
/** A word the kernel splits as one argument: no whitespace, not empty. */
export const wordSchema = z.string().min(1).regex(/^\S+$/, 'must be one word without whitespace');
/** A `Bytes` value (any `Uint8Array`). */
export const bytesSchema: z.ZodCustom<Bytes, Bytes> = z.instanceof(Uint8Array);
/**
 * `schema.parse(value)` for the message builders and other helpers that take user values
 * directly: a typed DmTargetError (INVALID_INPUT, naming the field), never a ZodError.
 */
export function checked<T>(schema: z.ZodType<T>, value: unknown, target: string, field: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new DmTargetError('INVALID_INPUT', target, `${field}: ${r.error.issues[0]?.message ?? 'invalid'}`, field);
}
