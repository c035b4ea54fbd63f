/**
 * The simulator's kernel keyring: `add_key` and `keyctl` (unlink, revoke, invalidate) in
 * memory, so that a verity open with a root hash signature on the simulator never touches
 * the host's keyrings. Tests read `keys()` to see what is held, and `history` to see when.
 */
import { ERRNO } from '../ffi/errors.js';
import { DmSyscallError, type Keyring } from '../lib/index.js';

/** ENOKEY (include/uapi/asm-generic/errno.h; Node has no name for it): a serial that names no key. */
const ENOKEY = 126;

/** One key as the simulated keyring holds it. */
export interface SimKey {
  /** The key's serial number. */
  readonly serial: number;
  /** Its type (`user`, `logon`, …). */
  readonly type: string;
  /** Its description (what `request_key` looks up). */
  readonly description: string;
  /** A copy of its payload. */
  readonly payload: Uint8Array;
  /** The keyrings (KEY_SPEC_* ids or serials) that link it. */
  readonly keyrings: ReadonlySet<number>;
  /** Revoked or invalidated: no longer found. */
  readonly revoked: boolean;
}

/** A keyring call as the simulated keyring saw it. */
export interface SimKeyringCall {
  /** `add_key`, `unlink`, `revoke` or `invalidate`. */
  readonly call: 'add_key' | 'unlink' | 'revoke' | 'invalidate';
  /** The key's serial. */
  readonly serial: number;
  /** The key's description. */
  readonly description: string;
}

/** The simulated kernel's keyring (`kernel.keyring`). */
export class SimKeyring implements Keyring {
  readonly #keys = new Map<number, { type: string; description: string; payload: Uint8Array; keyrings: Set<number>; revoked: boolean }>();
  #next = 0x1000_0001;
  /** Every call, in order. */
  readonly history: SimKeyringCall[] = [];

  /** The keys that are still linked somewhere and not revoked. */
  keys(): SimKey[] {
    return [...this.#keys].filter(([, k]) => k.keyrings.size > 0 && !k.revoked)
      .map(([serial, k]) => ({ serial, type: k.type, description: k.description, payload: new Uint8Array(k.payload), keyrings: new Set(k.keyrings), revoked: k.revoked }));
  }

  /** What the kernel's `request_key(type, description)` would find: a linked, unrevoked key. */
  find(type: string, description: string): SimKey | undefined {
    return this.keys().find((k) => k.type === type && k.description === description);
  }

  /** Whether the simulated process has a session keyring (KEY_SPEC_SESSION_KEYRING, -3); the user's session keyring (-5) always exists. */
  hasSessionKeyring = false;

  keyringId(keyring: number): number | undefined {
    if (keyring === -3 && !this.hasSessionKeyring) return undefined;
    return keyring < 0 ? 0x2000_0000 - keyring : keyring;
  }

  addKey(type: string, description: string, payload: Uint8Array, keyring: number): number {
    if (type.length === 0 || description.length === 0) throw new DmSyscallError(`add_key ${type}`, { errno: ERRNO.EINVAL, syscall: 'add_key' });
    // add_key(2) updates the key of the same type and description in that keyring.
    for (const [serial, k] of this.#keys) {
      if (k.type === type && k.description === description && k.keyrings.has(keyring) && !k.revoked) {
        k.payload = new Uint8Array(payload);
        this.history.push({ call: 'add_key', serial, description });
        return serial;
      }
    }
    const serial = this.#next++;
    this.#keys.set(serial, { type, description, payload: new Uint8Array(payload), keyrings: new Set([keyring]), revoked: false });
    this.history.push({ call: 'add_key', serial, description });
    return serial;
  }

  unlink(key: number, keyring: number): void {
    const k = this.#keys.get(key);
    if (!k) throw new DmSyscallError(`keyctl KEYCTL_UNLINK key ${key}`, { errno: ENOKEY, syscall: 'keyctl' });
    if (!k.keyrings.delete(keyring)) throw new DmSyscallError(`keyctl KEYCTL_UNLINK key ${key}`, { errno: ERRNO.ENOENT, syscall: 'keyctl' });
    this.history.push({ call: 'unlink', serial: key, description: k.description });
    if (k.keyrings.size === 0) this.#keys.delete(key);
  }

  revoke(key: number): void { this.#end(key, 'revoke'); }

  invalidate(key: number): void { this.#end(key, 'invalidate'); }

  #end(key: number, call: 'revoke' | 'invalidate'): void {
    const k = this.#keys.get(key);
    if (!k) throw new DmSyscallError(`keyctl ${call} key ${key}`, { errno: ENOKEY, syscall: 'keyctl' });
    k.revoked = true;
    this.history.push({ call, serial: key, description: k.description });
    if (call === 'invalidate') this.#keys.delete(key);
  }
}
