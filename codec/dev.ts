/**
 * Device numbers as device-mapper encodes them: the kernel's huge_encode_dev(), the same
 * for dm_ioctl.dev, dm_name_list.dev and dm_target_deps.dev[].
 */
import { DmCodecError } from './errors.js';

/** A block device number. `raw` is the 64-bit value as it travels in the ioctl. */
export interface DevNo {
  readonly major: number;
  readonly minor: number;
  readonly raw: bigint;
}

const MAX_MAJOR = 0xfff;     // 12 bits
const MAX_MINOR = 0xfffff;   // 20 bits

/** MKDEV with huge_encode_dev(): (mi & 0xff) | (ma << 8) | ((mi & ~0xff) << 12). */
export function encodeDev(major: number, minor: number): bigint {
  // String(), not a template: a Symbol must become this error, not a TypeError.
  if (typeof major !== 'number' || !Number.isInteger(major) || major < 0 || major > MAX_MAJOR) {
    throw new DmCodecError('INVALID_INTEGER', `major must be an integer in 0…${MAX_MAJOR}, got ${String(major)}`, 'dev.major');
  }
  if (typeof minor !== 'number' || !Number.isInteger(minor) || minor < 0 || minor > MAX_MINOR) {
    throw new DmCodecError('INVALID_INTEGER', `minor must be an integer in 0…${MAX_MINOR}, got ${String(minor)}`, 'dev.minor');
  }
  const v = (minor & 0xff) + major * 0x100 + (minor - (minor & 0xff)) * 0x1000;
  return BigInt(v);
}

/** MAJOR = (dev & 0xfff00) >> 8; MINOR = (dev & 0xff) | ((dev >> 12) & 0xfff00). */
export function decodeDev(raw: bigint): DevNo {
  if (typeof raw !== 'bigint' || raw < 0n) throw new DmCodecError('INVALID_ARGUMENT', `a dev must be a non-negative bigint, got ${typeof raw}`, 'dev');
  const lo = Number(raw & 0xffffffffn);
  const major = (lo & 0xfff00) >>> 8;
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major, minor, raw };
}

/** A device number as `major:minor`, the form the kernel prints in tables. */
export function devToString(d: { major: number; minor: number }): string {
  if (d === null || typeof d !== 'object' || typeof d.major !== 'number' || typeof d.minor !== 'number') {
    throw new DmCodecError('INVALID_ARGUMENT', 'a dev must be { major, minor } with numbers', 'dev');
  }
  return `${d.major}:${d.minor}`;
}
