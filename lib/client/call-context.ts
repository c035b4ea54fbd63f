/**
 * Call contexts of the commands whose requests may carry key material (a table load): their
 * buffers wiped when the call ends, their error text and attributed kernel log lines free of
 * it (codec/secrets.ts decides what is a key).
 */
import { describeParams, scrubLogLines, type DeviceId, type TargetSpecInput } from '../../codec/index.js';
import type { CallContext } from './runner.js';

/** A load's call context: its buffers wiped, its error text and kernel lines free of key material. */
export function loadContext(device: DeviceId, targets: readonly TargetSpecInput[], secure: boolean): CallContext {
  return {
    device,
    wipe: true,
    hint: () => linesHint(targets, secure),
    scrubLog: (lines) => scrubLogLines(lines, targets, secure),
  };
}

/** The first lines of a failed load for its error message; params through codec/secrets.ts's rule. */
function linesHint(targets: readonly TargetSpecInput[], secure: boolean): string {
  const shown = targets.slice(0, 3).map((t) => `"${String(t.start)} ${String(t.length)} ${String(t.type)} ${describeParams(t.type, t.params, secure)}"`);
  return `table ${shown.join(', ')}${targets.length > 3 ? ` and ${targets.length - 3} more` : ''}`;
}
