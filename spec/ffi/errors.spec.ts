import { describe, expect, it } from '@jest/globals';
import * as os from 'node:os';
import * as util from 'node:util';
import {
  DmClosedError,
  DmFfiError,
  DmPermissionError,
  DmPlatformError,
  DmUnavailableError,
  ERRNO,
  errnoName,
  ioctlPermissionError,
  mapOpenError,
} from '../../ffi/index.js';

describe('errnoName', () => {
  it('names every errno Node knows, with the running architecture\'s numbers', () => {
    const wrong: string[] = [];
    for (const [name, n] of Object.entries(os.constants.errno)) {
      if (ERRNO[name as keyof typeof ERRNO] !== n) wrong.push(`ERRNO.${name} = ${ERRNO[name as keyof typeof ERRNO]}, Node: ${n}`);
      // The name is libuv's where it has one (aliases: EAGAIN, not EWOULDBLOCK; ENOTSUP, not
      // EOPNOTSUPP), else os.constants.errno's for that number (EIDRM, ENODATA: libuv names neither).
      const uv = util.getSystemErrorName(-n);
      const expected = uv in os.constants.errno ? uv : Object.keys(os.constants.errno).find((k) => os.constants.errno[k as keyof typeof os.constants.errno] === n);
      if (errnoName(n) !== expected) wrong.push(`errnoName(${n}) = ${errnoName(n)}, expected ${expected}`);
      if (ERRNO[errnoName(n) as keyof typeof ERRNO] !== n) wrong.push(`ERRNO[errnoName(${n})] = ${ERRNO[errnoName(n) as keyof typeof ERRNO]}`);
    }
    expect(wrong).toEqual([]);
    expect(Object.isFrozen(ERRNO)).toBe(true);
  });
  it('knows the errnos device-mapper produces, by their x86/asm-generic numbers there', () => {
    if (!['x64', 'arm64', 'arm', 'riscv64', 's390x', 'ia32', 'ppc64', 'loong64'].includes(process.arch)) return;
    const expected: Record<string, number> = {
      EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, ENXIO: 6, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13,
      EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOTTY: 25, ENOSPC: 28, ERANGE: 34,
      ENOSYS: 38, EIDRM: 43, ENODATA: 61, ENOTSUP: 95, ENOTCONN: 107, ETIMEDOUT: 110,
    };
    for (const [name, n] of Object.entries(expected)) {
      expect(errnoName(n)).toBe(name);
      expect(ERRNO[name as keyof typeof ERRNO]).toBe(n);
    }
  });
  it('accepts libuv negative numbers and degrades for unknown ones', () => {
    expect(errnoName(-2)).toBe('ENOENT');
    expect(errnoName(4242)).toBe('errno 4242');
    expect(errnoName(0)).toBe('errno 0');
    expect(errnoName(Symbol('x') as never)).toBe('errno (symbol)');
  });
});

describe('mapOpenError', () => {
  const path = '/dev/mapper/control';
  const sys = (code: string, errno: number) => Object.assign(new Error(code), { code, errno, syscall: 'open', path });

  it.each([
    ['ENOENT', -2],
    ['ENODEV', -19],
    ['ENXIO', -6],
  ])('%s → DmUnavailableError', (code, errno) => {
    const e = mapOpenError(sys(code, errno), path);
    expect(e).toBeInstanceOf(DmUnavailableError);
    expect(e).toBeInstanceOf(DmFfiError);
    const u = e as DmUnavailableError;
    expect(u.code).toBe(code);
    expect(u.errno).toBe(-errno);
    expect(u.path).toBe(path);
    expect(u.message).toContain('device-mapper is not available (no /dev/mapper/control, or dm_mod not loaded)');
    expect(u.message).toContain(code);
  });

  it.each([
    ['EACCES', -13],
    ['EPERM', -1],
  ])('%s → DmPermissionError mentioning the mode and root', (code, errno) => {
    const e = mapOpenError(sys(code, errno), path, 0o20600) as DmPermissionError;
    expect(e).toBeInstanceOf(DmPermissionError);
    expect(e.code).toBe(code);
    expect(e.errno).toBe(-errno);
    expect(e.message).toMatch(/permissions \(mode 0600\)/);
    expect(e.message).toMatch(/root/);
    expect(e.cause).toBeDefined();
  });

  it('uses the numeric errno when there is no code', () => {
    expect(mapOpenError({ errno: 19 }, path)).toBeInstanceOf(DmUnavailableError);
  });

  it('passes other errors through unchanged', () => {
    const other = sys('EMFILE', -24);
    expect(mapOpenError(other, path)).toBe(other);
    expect(mapOpenError('x', path)).toBe('x');
  });
});

describe('other typed errors', () => {
  it('ioctl EACCES says CAP_SYS_ADMIN is needed', () => {
    const e = ioctlPermissionError(path());
    expect(e).toBeInstanceOf(DmPermissionError);
    expect(e.message).toContain('CAP_SYS_ADMIN is needed');
    expect(e.errno).toBe(13);
    expect(e.syscall).toBe('ioctl');
  });
  it('platform and closed errors carry codes', () => {
    const p = new DmPlatformError('darwin');
    expect(p.code).toBe('DM_PLATFORM');
    expect(p.platform).toBe('darwin');
    expect(p.name).toBe('DmPlatformError');
    const c = new DmClosedError('thing');
    expect(c.code).toBe('DM_CLOSED');
    expect(c.errno).toBe(0); // the library's own refusal: no system call failed
    expect(new DmUnavailableError().code).toBe('DM_UNAVAILABLE'); // no errno known
  });
});

function path(): string {
  return '/dev/mapper/control';
}
