/** Device path → major:minor on Node: the node's rdev, split as glibc's gnu_dev_major/minor do. */
import { statSync } from 'node:fs';
import type { DeviceResolver } from './common.js';
import { DmTargetError } from '../errors.js';
import { splitRdev } from '../block/loop-devices.js';

/** Resolves a device path to its device number with `stat()` (the default resolver). */
export const nodeResolver: DeviceResolver = (path) => {
  if (typeof path !== 'string') throw new DmTargetError('UNRESOLVED_DEVICE', 'device', `a device path must be a string, got ${typeof path}`, 'path');
  const st = statSync(path, { bigint: true });
  if (!st.isBlockDevice()) throw new DmTargetError('UNRESOLVED_DEVICE', 'device', `${path} is not a block device`, 'path');
  return splitRdev(st.rdev);
};
