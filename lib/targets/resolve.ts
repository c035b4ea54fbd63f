/** Device path → major:minor on Node: the node's rdev, split as glibc's gnu_dev_major/minor do. */
import { statSync } from 'node:fs';
import type { DeviceResolver } from './common.js';
import { DmTargetError } from './errors.js';

/** Resolves a device path to its device number with `stat()` (the default resolver). */
export const nodeResolver: DeviceResolver = (path) => {
  if (typeof path !== 'string') throw new DmTargetError('UNRESOLVED_DEVICE', 'device', `a device path must be a string, got ${typeof path}`, 'path');
  const st = statSync(path, { bigint: true });
  if (!st.isBlockDevice()) throw new Error(`${path} is not a block device`);
  return splitRdev(st.rdev);
};

/** glibc's dev_t layout: major = bits 8–19 and 32–43, minor = bits 0–7 and 20–31 (and 44–63). */
export function splitRdev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}
