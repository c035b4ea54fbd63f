// ffi/keyring.ts over a fake libc: the syscall numbers of each architecture, the argument
// shapes (NUL-terminated strings, the payload in place, the keyring id as is) and errno →
// DmSyscallError with the errno's name as code.
import { describe, expect, test } from '@jest/globals';
import { KEY_SPEC_PROCESS_KEYRING, KEYCTL_INVALIDATE, KEYCTL_REVOKE, KEYCTL_UNLINK, keyringOps } from '../../ffi/keyring.js';
import { ERRNO } from '../../ffi/errors.js';

function fakeLibc(answer: { ret: number; errno: number } = { ret: 0x2a, errno: 0 }) {
  const calls: unknown[][] = [];
  return { calls, libc: { syscall5: (...a: unknown[]) => { calls.push(a.map((x) => (x instanceof Uint8Array ? Buffer.from(x).toString('latin1') : x))); return answer; } } };
}

describe('keyringOps', () => {
  test.each([['x64', 248, 250], ['arm64', 217, 219], ['riscv64', 217, 219], ['ia32', 286, 288], ['arm', 309, 311]] as const)('%s: add_key %d, keyctl %d', (arch, addKey, keyctl) => {
    const { calls, libc } = fakeLibc();
    const k = keyringOps(libc, arch);
    expect(k.addKey('user', 'cryptsetup:v', new Uint8Array([1, 2, 3]), KEY_SPEC_PROCESS_KEYRING)).toBe(0x2a);
    k.unlink(0x2a, KEY_SPEC_PROCESS_KEYRING);
    expect(k.keyringId(-3)).toBe(0x2a);
    k.revoke(0x2a);
    k.invalidate(0x2a);
    expect(calls).toEqual([
      [addKey, 'user\0', 'cryptsetup:v\0', '\x01\x02\x03', 3, -2],
      [keyctl, KEYCTL_UNLINK, 0x2a, -2, 0, 0],
      [keyctl, 0, -3, 0, 0, 0],
      [keyctl, KEYCTL_REVOKE, 0x2a, 0, 0, 0],
      [keyctl, KEYCTL_INVALIDATE, 0x2a, 0, 0, 0],
    ]);
  });

  test('an empty payload is passed as NULL with length 0', () => {
    const { calls, libc } = fakeLibc();
    keyringOps(libc, 'x64').addKey('user', 'd', new Uint8Array(0), -2);
    expect(calls[0]).toEqual([248, 'user\0', 'd\0', null, 0, -2]);
  });

  test('a failure is a DmSyscallError named by its errno; an unknown architecture is ENOSYS before any call', () => {
    const { libc } = fakeLibc({ ret: -1, errno: ERRNO.EDQUOT });
    expect(() => keyringOps(libc, 'x64').addKey('user', 'd', new Uint8Array(1), -2)).toThrow(expect.objectContaining({ name: 'DmSyscallError', code: 'EDQUOT', syscall: 'add_key' }));
    // No session keyring: KEYCTL_GET_KEYRING_ID answers ENOKEY, which is "none", not an error.
    expect(keyringOps(fakeLibc({ ret: -1, errno: 126 }).libc, 'x64').keyringId(-3)).toBeUndefined();
    const none = fakeLibc();
    expect(() => keyringOps(none.libc, 'mips').unlink(1, -2)).toThrow(expect.objectContaining({ code: 'ENOSYS', syscall: 'keyctl' }));
    expect(none.calls).toEqual([]);
  });
});
