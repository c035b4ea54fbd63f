/**
 * The oldest version of a target that takes a typed line, where it is known
 * (docs/targets.md, "Target versions"): compare it with `DeviceMapper.getTargetVersion(type)`
 * before loading, to fail with a typed error instead of the kernel's EINVAL.
 */
import type { Version } from '../../codec/index.js';
import { DmTargetError } from '../errors.js';
import type { TypedTarget } from './table.js';

/** What a line needs of its target: the version, and the feature that needs it. */
export interface TargetVersionNeed {
  /** The target type, e.g. `integrity`. */
  readonly type: string;
  /** The oldest target version that takes the line. */
  readonly version: Version;
  /** What needs it, e.g. `mode I` or `the vdo target`. */
  readonly feature: string;
}

const older = (a: Version, b: Version) => a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];

/**
 * The newest known requirement of one typed line, or undefined when any loaded version of its
 * target takes it (or nothing is known). Read from the line's type and mode fields only: the
 * line is not validated (`buildTarget` does that).
 */
export function targetVersionNeed(line: TypedTarget): TargetVersionNeed | undefined {
  if (line === null || typeof line !== 'object' || typeof (line as { type?: unknown }).type !== 'string') {
    throw new DmTargetError('INVALID_INPUT', 'table', 'line: expected a typed table line', 'line');
  }
  const needs: TargetVersionNeed[] = [];
  const need = (version: Version, feature: string) => needs.push({ type: line.type, version, feature });
  switch (line.type) {
    // dm-vdo as merged in Linux 6.9 reports 9.0.0; the out-of-tree kvdo modules report 6.x/8.x.
    case 'vdo': need([9, 0, 0], 'the in-tree vdo target'); break;
    // Both have taken these lines since their first version (clone 1.0.0 in 5.4, ebs 1.0.0 in 5.12).
    case 'clone': need([1, 0, 0], 'the clone target'); break;
    case 'ebs': need([1, 0, 0], 'the ebs target'); break;
    case 'integrity':
      // The bitmap mode came with 1.3.0 (Linux 5.2), the inline mode with 1.12.0 (Linux 6.11).
      if (line.mode === 'B' || line.sectorsPerBit !== undefined || line.bitmapFlushIntervalMs !== undefined) need([1, 3, 0], 'mode B');
      if (line.mode === 'I') need([1, 12, 0], 'mode I');
      break;
    default: break;
  }
  return needs.reduce<TargetVersionNeed | undefined>((a, b) => (a === undefined || older(a.version, b.version) ? b : a), undefined);
}

/**
 * Throws `DmTargetError` (`TARGET_VERSION`) when `version` (the kernel's, from
 * `getTargetVersion(line.type)`) is older than the line needs; does nothing otherwise.
 */
export function checkTargetVersion(line: TypedTarget, version: Version): void {
  const n = targetVersionNeed(line);
  if (!Array.isArray(version) || version.length !== 3 || !version.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new DmTargetError('INVALID_INPUT', 'table', 'version: expected [major, minor, patch]', 'version');
  }
  if (n && older(version, n.version)) {
    throw new DmTargetError('TARGET_VERSION', n.type, `${n.feature} needs target version ${n.version.join('.')} or newer; the kernel's is ${version.join('.')}`);
  }
}
