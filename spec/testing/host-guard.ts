// A guard for host isolation: while armed, every call that would create, write or change a
// host file, loop device or device node is recorded and refused (it throws, so a leak is
// also stopped from happening). Import this module before anything from lib/: it mocks
// node:fs and the ffi modules that reach block devices, loop devices and libc, so every
// module loaded afterwards gets the guarded versions (a spy on fs after the fact would
// miss them: each compiled module holds its own copy of fs's functions).
import { jest } from '@jest/globals';

export const breaches: string[] = [];
let armed = false;

/** Wraps every function export of an ffi module: armed, a call is a breach. */
export function guardModule(name: string, actual: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(actual)) {
    out[k] = typeof v === 'function' && !/^[A-Z]/.test(k)
      ? (...args: unknown[]) => {
        if (armed) {
          breaches.push(`${name}.${k}(${args.filter((a) => typeof a === 'string' || typeof a === 'number').join(', ')})`);
          throw new Error(`host isolation: ${name}.${k} called`);
        }
        return (v as (...a: unknown[]) => unknown)(...args);
      }
      : v;
  }
  return out;
}

const FS_WRITES = new Set([
  'openSync', 'open', 'writeFileSync', 'writeFile', 'appendFileSync', 'mkdirSync', 'mkdir', 'mkdtempSync', 'truncateSync', 'truncate', 'ftruncateSync',
  'symlinkSync', 'linkSync', 'renameSync', 'rename', 'unlinkSync', 'unlink', 'rmSync', 'rm', 'chownSync', 'chmodSync', 'copyFileSync', 'createWriteStream',
]);
const FS_PROMISES = new Set(['open', 'writeFile', 'mkdir', 'truncate', 'rename', 'unlink', 'rm', 'mkdtemp', 'symlink', 'chown', 'chmod']);

function isReadOnlyOpen(k: string, flags: unknown): boolean {
  return (k === 'openSync' || k === 'open') && (flags === undefined || flags === 'r' || flags === 0 || typeof flags === 'function');
}

/** node:fs with every call that writes, creates or changes a file guarded. */
export function guardedFs(actual: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...actual };
  for (const k of FS_WRITES) {
    const orig = actual[k];
    if (typeof orig !== 'function') continue;
    out[k] = (...args: unknown[]) => {
      if (armed && !isReadOnlyOpen(k, args[1])) {
        breaches.push(`fs.${k}(${String(args[0])})`);
        throw new Error(`host isolation: fs.${k}(${String(args[0])})`);
      }
      return (orig as (...a: unknown[]) => unknown).apply(actual, args);
    };
  }
  const promises = actual.promises as Record<string, unknown>;
  const p: Record<string, unknown> = { ...promises };
  // Reads of the host's sysfs (lib/kernel/host-sysfs.ts reads it through fs.promises): the simulator serves its own.
  for (const k of ['readdir', 'open', 'readFile']) {
    const orig = promises[k];
    if (typeof orig !== 'function') continue;
    p[k] = async (...args: unknown[]) => {
      if (armed && /^\/sys(\/|$)/.test(String(args[0]))) {
        breaches.push(`fs.promises.${k}(${String(args[0])})`);
        throw new Error(`host isolation: fs.promises.${k}(${String(args[0])})`);
      }
      return (orig as (...a: unknown[]) => unknown).apply(promises, args);
    };
  }
  for (const k of FS_PROMISES) {
    const orig = promises[k];
    if (typeof orig !== 'function') continue;
    p[k] = async (...args: unknown[]) => {
      if (armed && !(k === 'open' && (args[1] === undefined || args[1] === 'r'))) {
        breaches.push(`fs.promises.${k}(${String(args[0])})`);
        throw new Error(`host isolation: fs.promises.${k}(${String(args[0])})`);
      }
      return (orig as (...a: unknown[]) => unknown).apply(promises, args);
    };
  }
  out.promises = p;
  return out;
}

jest.mock('node:fs', () => guardedFs(jest.requireActual('node:fs')));
jest.mock('fs', () => guardedFs(jest.requireActual('fs')));
jest.mock('node:fs/promises', () => guardedFs({ promises: jest.requireActual('node:fs/promises') }).promises);
jest.mock('../../ffi/block', () => guardModule('ffi/block', jest.requireActual('../../ffi/block')));
jest.mock('../../ffi/libc', () => guardModule('ffi/libc', jest.requireActual('../../ffi/libc')));
jest.mock('../../ffi/control', () => guardModule('ffi/control', jest.requireActual('../../ffi/control')));

/** Runs `scenario` with the guard armed and returns what reached (or tried to reach) the host. */
export async function withHostGuard(scenario: () => Promise<void>): Promise<string[]> {
  breaches.length = 0;
  armed = true;
  try {
    await scenario();
  } finally {
    armed = false;
  }
  return [...breaches];
}
