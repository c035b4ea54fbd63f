/**
 * Call contexts of the commands whose requests may carry key material (a table load): their
 * buffers wiped when the call ends, their error text and attributed kernel log lines free of
 * it (codec/secrets.ts decides what is a key).
 */
import { describeParams, scrubLogLines, type DeviceId, type TargetSpecInput } from '../../codec/index.js';
import type { CallContext, CallFailure } from './runner.js';
import { ERRNO } from '../../ffi/errors.js';

/** A load's call context: its buffers wiped, its error text and kernel lines free of key material. */
export function loadContext(device: DeviceId, targets: readonly TargetSpecInput[], secure: boolean): CallContext {
  return {
    device,
    wipe: true,
    hint: (failure) => (failure.errno === ERRNO.ENOENT || failure.errno === ERRNO.ENODEV ? missingHint(targets, secure, failure.kernelLog) : undefined) ?? linesHint(targets, secure),
    scrubLog: (lines) => scrubLogLines(lines, targets, secure),
  };
}

/** The first lines of a failed load for its error message; params through codec/secrets.ts's rule. */
function linesHint(targets: readonly TargetSpecInput[], secure: boolean): string {
  const shown = targets.slice(0, 3).map((t) => `"${String(t.start)} ${String(t.length)} ${String(t.type)} ${describeParams(t.type, t.params, secure)}"`);
  return `table ${shown.join(', ')}${targets.length > 3 ? ` and ${targets.length - 3} more` : ''}`;
}

/** dm_table_add_target()'s line: `table: <major>:<minor>: <type>: <error>` (docs/kernel-facts.md, "Kernel log lines"). */
const CONSTRUCTOR_LINE = /^device-mapper: table: \d+:\d+: ([^:]+): /;

/** A params token that names a device: a path, or `<major>:<minor>` (what dm_get_device() takes). */
const DEVICE_TOKEN = /^(?:\/\S+|\d+:\d+)$/;

/**
 * The devices a table names that may be the missing one, each with its line: the kernel's
 * line says only which target type failed ("linear: Device lookup failed"), not which
 * argument, so the candidates are the device arguments of the lines of that type (of every
 * line when no kernel line was read). Undefined when no line names a device.
 */
function missingHint(targets: readonly TargetSpecInput[], secure: boolean, kernelLog: readonly string[]): string | undefined {
  const types = new Set(kernelLog.map((l) => CONSTRUCTOR_LINE.exec(l)?.[1]).filter((t): t is string => t !== undefined));
  const found: string[] = [];
  targets.forEach((t, i) => {
    if (types.size > 0 && !types.has(String(t.type))) return;
    const params = typeof t.params === 'string' ? t.params : '';
    for (const token of params.split(/\s+/)) {
      if (DEVICE_TOKEN.test(token)) found.push(`"${token}" (table line ${i + 1}: "${String(t.start)} ${String(t.length)} ${String(t.type)} ${describeParams(t.type, t.params, secure)}")`);
    }
  });
  if (found.length === 0) return undefined;
  const shown = found.slice(0, 3).join(', ') + (found.length > 3 ? ` and ${found.length - 3} more` : '');
  return found.length === 1 ? `missing: ${shown}` : `missing: one of ${shown}`;
}
