/**
 * Shared by the multi-step helpers (ThinPool, FaultyDevice): time bounds on kernel calls and
 * the identity of the device a sequence of steps works on.
 */
import type { DeviceId, DeviceInfo, TargetSpecInput } from '../codec/index.js';
import type { DeviceMapper } from './client.js';
import { DmOperationError } from './operation-errors.js';

/**
 * Resolves with `p`, or rejects with TIMEOUT after `ms`. The call itself cannot be
 * cancelled (it runs in the kernel); `onLate` gets its result if it finishes after the
 * timeout, so a suspend that completes late is still resumed.
 */
export function bounded<T>(p: Promise<T>, ms: number, what: string, onLate?: (value: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new DmOperationError('TIMEOUT', `${what} did not finish within ${ms} ms`));
    }, ms);
  });
  p.then((v) => { if (timedOut) onLate?.(v); }, () => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function checkTimeout(ms: number | undefined, fallback: number): number {
  const v = ms ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 3_600_000) throw new DmOperationError('INVALID_INPUT', `timeoutMs must be an integer in 1…3600000, got ${String(ms)}`);
  return v;
}

/** name, uuid and dev of a device, as the first step saw it. */
export interface Identity { readonly name: string; readonly uuid: string | null; readonly major: number; readonly minor: number }

export function identityOf(info: DeviceInfo): Identity {
  return { name: info.name, uuid: info.uuid, major: info.dev.major, minor: info.dev.minor };
}

/** How later steps address the device: by uuid when it has one (a rename cannot redirect them), else by name. */
export function addressOf(id: Identity): DeviceId {
  return id.uuid ? { uuid: id.uuid } : { name: id.name };
}

/** Every reply of a multi-step operation must name the device the first step named. */
export function checkIdentity(expected: Identity, info: DeviceInfo, step: string): void {
  if (info.name !== expected.name || info.uuid !== expected.uuid || info.dev.major !== expected.major || info.dev.minor !== expected.minor) {
    throw new DmOperationError('IDENTITY_MISMATCH',
      `${step}: the reply names ${info.name} (uuid "${info.uuid}", ${info.dev.major}:${info.dev.minor}), `
      + `not ${expected.name} (uuid "${expected.uuid}", ${expected.major}:${expected.minor}): the device was replaced or renamed meanwhile`);
  }
}

/**
 * load, bounded, with its reply checked: a load that reached another device (the uuid now
 * names a different dev) has its table cleared again before IDENTITY_MISMATCH is thrown, so
 * nothing is left in that device's inactive slot.
 */
export async function loadChecked(dm: DeviceMapper, id: Identity, address: DeviceId, specs: readonly TargetSpecInput[], timeout: number, what: string): Promise<void> {
  const info = await bounded(dm.load(address, specs), timeout, what);
  try {
    checkIdentity(id, info, 'load');
  } catch (e) {
    await dm.clear({ dev: { major: info.dev.major, minor: info.dev.minor } }).catch(() => {});
    throw e;
  }
}
