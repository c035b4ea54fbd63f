/**
 * What the simulated storage targets' constructors share: device lookups and the kernel's
 * argument parsing (sscanf's numbers, dm_read_arg_group), with the kernel's error texts.
 */
import { SimError } from './errors.js';
import type { SimBlockDevice, TargetContext } from './targets.js';

/** A device as a table prints it: major:minor. */
export const mm = (d: SimBlockDevice) => `${d.major}:${d.minor}`;

export function dev(ctx: TargetContext, arg: string | undefined, what: string, error = 'Device lookup failed'): SimBlockDevice {
  const d = arg === undefined ? undefined : ctx.lookup(arg);
  if (!d) throw new SimError(ctx.lookupErrno, `${what}: ${error}`);
  return d;
}

/** sscanf("%llu%c") == 1: a decimal that fits 64 bits. */
export function u64(arg: string | undefined): bigint | undefined {
  if (arg === undefined || !/^\d{1,20}$/.test(arg)) return undefined;
  const v = BigInt(arg);
  return v <= 0xffffffffffffffffn ? v : undefined;
}

export function u32(arg: string | undefined): number | undefined {
  const v = u64(arg);
  return v !== undefined && v <= 0xffffffffn ? Number(v) : undefined;
}

export const fail = (target: string, text: string): never => { throw new SimError('EINVAL', `${target}: ${text}`); };

/** dm_read_arg_group(): a count followed by that many args, within what is left. */
export function group(argv: string[], at: number, target: string, error: string, max = 0xffffffff): string[] {
  const n = u32(argv[at]);
  if (n === undefined || n > max || at + 1 + n > argv.length) fail(target, error);
  return argv.slice(at + 1, at + 1 + n!);
}
