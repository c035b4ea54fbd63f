/**
 * The check every table dmctl sends goes through first — a real create or load and its
 * `--dry-run` alike (`readTable` is their one way to a table): each line of a target type the
 * package has a typed unit for is parsed by that unit (`parseTarget`, the parser of
 * `dmctl table` output), so a line the kernel would refuse for its argument count or an
 * unparsable number is refused before any ioctl; a type one letter away from a typed one is
 * taken for a typo. Any other type is left to the kernel (out-of-tree and newer targets).
 */
import { DmTargetParseError, parseTarget, TARGET_UNITS, type TargetSpecInput } from '../lib/index.js';
import { UsageError } from './errors.js';

const TYPED: readonly string[] = Object.keys(TARGET_UNITS);

/** Whether `a` becomes `b` with one insertion, deletion or substitution. */
function oneEditApart(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) return a.slice(i + 1) === b.slice(i + 1);
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/**
 * The params with every device path as `0:0`: a load takes a device as a path or as
 * `major:minor` (dm_get_device()), the parser of table output only the numbers the kernel
 * prints. Which device a path names is the kernel's to check (ENOENT/ENODEV), not the shape.
 */
function asNumbers(params: string): string {
  return params.replace(/(^|\s)\/\S*/g, '$10:0');
}

/** Throws UsageError for the first line a typed unit refuses, or whose type is a typo of a typed one. */
export function checkTable(targets: readonly TargetSpecInput[]): void {
  targets.forEach((t, i) => {
    const type = String(t.type);
    const where = `line ${i + 1} of table ("${String(t.start)} ${String(t.length)} ${type} …")`;
    if (Object.hasOwn(TARGET_UNITS, type)) {
      // dmctl's tables are text; a Uint8Array params (keys) only comes through the library.
      if (typeof t.params !== 'string') return;
      try {
        parseTarget({ start: t.start as bigint, length: t.length as bigint, type, params: asNumbers(t.params) });
      } catch (e) {
        if (e instanceof DmTargetParseError) throw new UsageError(`Invalid ${type} target on ${where}: ${e.message}`);
        throw e;
      }
      return;
    }
    const near = TYPED.find((k) => oneEditApart(type, k));
    if (near) throw new UsageError(`Unknown target type "${type}" on ${where}: did you mean "${near}"?`);
  });
}
