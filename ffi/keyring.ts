/**
 * The kernel key retention service (`add_key(2)`, `keyctl(2)`): what verity's root hash
 * signature travels through (the kernel's verity constructor looks the signature up by its
 * description with `request_key`, lib/verity/open.ts, docs/verity-open.md "Signatures"). glibc has
 * no wrapper for these calls (libkeyutils does), so they go through `syscall(2)` with the
 * architecture's numbers. Each call is one syscall on the calling thread that never sleeps
 * for long; every failure is a {@link DmSyscallError} whose `code` is the errno's name.
 *
 * @module
 */
import { DmSyscallError, ERRNO } from './errors.js';
import { loadLibc, type Libc } from './libc.js';

// <linux/keyctl.h>: the special keyring ids.
/** The calling thread's keyring (what cryptsetup uses: it makes its ioctls on that thread). */
export const KEY_SPEC_THREAD_KEYRING = -1;
/**
 * The process keyring. Made on first use in the calling thread's credentials only: threads
 * that already exist (libuv's pool, the ioctl engine's worker) do not search it.
 */
export const KEY_SPEC_PROCESS_KEYRING = -2;
/** The session keyring: inherited by every thread made after it, so all of them search it. */
export const KEY_SPEC_SESSION_KEYRING = -3;
export const KEY_SPEC_USER_KEYRING = -4;
/** The user's session keyring: what a thread without a session keyring searches instead. */
export const KEY_SPEC_USER_SESSION_KEYRING = -5;

// keyctl(2) operations.
export const KEYCTL_GET_KEYRING_ID = 0;
export const KEYCTL_REVOKE = 3;
export const KEYCTL_UNLINK = 9;
export const KEYCTL_INVALIDATE = 21;

/**
 * `__NR_add_key` and `__NR_keyctl` per Node arch: arch/x86/entry/syscalls/syscall_64.tbl and
 * syscall_32.tbl, arch/arm/tools/syscall.tbl, and include/uapi/asm-generic/unistd.h (arm64,
 * riscv64, loongarch64). Other architectures: ENOSYS.
 */
export const KEYRING_SYSCALLS: Readonly<Record<string, { readonly addKey: number; readonly keyctl: number }>> = {
  x64: { addKey: 248, keyctl: 250 },
  ia32: { addKey: 286, keyctl: 288 },
  arm: { addKey: 309, keyctl: 311 },
  arm64: { addKey: 217, keyctl: 219 },
  riscv64: { addKey: 217, keyctl: 219 },
  loong64: { addKey: 217, keyctl: 219 },
};

/** A key ring the package can add keys to: the host's (this module) or the simulator's (memory). */
export interface Keyring {
  /**
   * `add_key(type, description, payload, keyring)`: adds (or updates: same type and
   * description in that keyring) a key and returns its serial number. `keyring` is a
   * `KEY_SPEC_*` id or a keyring's serial.
   */
  addKey(type: string, description: string, payload: Uint8Array, keyring: number): number;
  /** `keyctl(KEYCTL_GET_KEYRING_ID, keyring, 0)`: the serial of a special keyring, undefined when the caller has none (ENOKEY); never creates one. */
  keyringId(keyring: number): number | undefined;
  /** `keyctl(KEYCTL_UNLINK, key, keyring)`: the keyring no longer holds the key (ENOENT when it did not). */
  unlink(key: number, keyring: number): void;
  /** `keyctl(KEYCTL_REVOKE, key)`: the key can no longer be read or found. */
  revoke(key: number): void;
  /** `keyctl(KEYCTL_INVALIDATE, key)`: the key is gone from every keyring at once (3.5+). */
  invalidate(key: number): void;
}

/** ENOKEY: asm-generic and x86 (Node's errno table has no name for it). */
const ENOKEY = 126;

/** A C string for the kernel: the text's UTF-8 bytes and a NUL. */
function cString(text: string): Uint8Array {
  const b = Buffer.from(text, 'utf8');
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** The keyring calls over a loaded libc, for the architecture `arch`. */
export function keyringOps(libc: Pick<Libc, 'syscall5'>, arch: string = process.arch): Keyring {
  const nr = KEYRING_SYSCALLS[arch];
  const fail = (syscall: string, errno: number, what: string): never => {
    throw new DmSyscallError(`${syscall} ${what}`, { errno, syscall });
  };
  const keyctl = (op: number, a: number, b: number, what: string, orUndefined?: number): number | undefined => {
    if (!nr) fail('keyctl', ERRNO.ENOSYS, `on ${arch}`); // no syscall number known here
    const r = libc.syscall5(nr!.keyctl, op, a, b, 0, 0);
    if (r.ret < 0 && r.errno === orUndefined) return undefined;
    if (r.ret < 0) fail('keyctl', r.errno, what);
    return r.ret;
  };
  return {
    addKey(type, description, payload, keyring) {
      if (!nr) fail('add_key', ERRNO.ENOSYS, `on ${arch}`);
      // A zero-length payload is passed as NULL, as the kernel expects for plen 0.
      const r = libc.syscall5(nr!.addKey, cString(type), cString(description), payload.length ? payload : null, payload.length, keyring);
      if (r.ret < 0) fail('add_key', r.errno, `${type} key ${JSON.stringify(description)}`);
      return r.ret;
    },
    keyringId(keyring) { return keyctl(KEYCTL_GET_KEYRING_ID, keyring, 0, `KEYCTL_GET_KEYRING_ID ${keyring}`, ENOKEY); },
    unlink(key, keyring) { void keyctl(KEYCTL_UNLINK, key, keyring, `KEYCTL_UNLINK key ${key}`); },
    revoke(key) { void keyctl(KEYCTL_REVOKE, key, 0, `KEYCTL_REVOKE key ${key}`); },
    invalidate(key) { void keyctl(KEYCTL_INVALIDATE, key, 0, `KEYCTL_INVALIDATE key ${key}`); },
  };
}

/** Loads libc (once per process) and returns the host's keyring calls. */
export async function openKeyring(platform: string = process.platform): Promise<Keyring> {
  return keyringOps(await loadLibc(platform));
}
