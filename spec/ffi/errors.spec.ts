import { describe, expect, it } from '@jest/globals';
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
  it('names the errnos device-mapper produces, with Linux numbers', () => {
    const expected: Record<string, number> = {
      EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, ENXIO: 6, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13,
      EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOTTY: 25, ENOSPC: 28, ERANGE: 34,
      ENOSYS: 38, ENODATA: 61, ENOTCONN: 107,
    };
    for (const [name, n] of Object.entries(expected)) {
      expect(errnoName(n)).toBe(name);
      expect(ERRNO[name as keyof typeof ERRNO]).toBe(n);
    }
  });
  it('accepts libuv negative numbers and degrades for unknown ones', () => {
    expect(errnoName(-2)).toBe('ENOENT');
    expect(errnoName(4242)).toBe('errno 4242');
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
    expect(u.code).toBe('DM_UNAVAILABLE');
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
    expect(e.code).toBe('DM_PERMISSION');
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
    expect(c.errno).toBe(9);
  });
});

function path(): string {
  return '/dev/mapper/control';
}
