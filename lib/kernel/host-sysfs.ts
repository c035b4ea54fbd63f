/**
 * The host's sysfs for the inspection API (the real backend's {@link SysfsReader}): plain
 * reads under a root (default /sys). An attribute is read through one bounded read, so a
 * huge or endless file costs at most `maxBytes + 1` bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DmSyscallError, ERRNO } from '../../ffi/errors.js';
import type { SysfsReader } from './backend.js';

function fsError(e: unknown, syscall: string, p: string): DmSyscallError {
  const code = (e as NodeJS.ErrnoException).code;
  const errno = code && Object.hasOwn(ERRNO, code) ? ERRNO[code as keyof typeof ERRNO] : Math.abs((e as NodeJS.ErrnoException).errno ?? 0);
  return new DmSyscallError(`reading sysfs ${p}`, { errno, syscall, path: p });
}

/** A reader of the host's sysfs under `root`. Paths given to it are relative and never climb out of it. */
export function hostSysfs(root = '/sys'): SysfsReader {
  const full = (p: string) => {
    // Entry names come from readdir of sysfs itself; a path that climbs out is the caller's bug.
    if (p.split('/').includes('..') || path.isAbsolute(p)) throw new DmSyscallError(`sysfs path ${p} leaves the sysfs root`, { errno: ERRNO.EINVAL, syscall: 'open', path: p });
    return path.join(root, p);
  };
  return {
    async readdir(p) {
      const f = full(p);
      try {
        return await fs.promises.readdir(f);
      } catch (e) {
        throw fsError(e, 'readdir', f);
      }
    },
    async readFile(p, maxBytes) {
      const f = full(p);
      let h: fs.promises.FileHandle | undefined;
      try {
        h = await fs.promises.open(f, 'r');
        const buf = Buffer.alloc(maxBytes + 1);
        let got = 0;
        // sysfs answers an attribute in one read; loop anyway for a regular file under a test root.
        for (;;) {
          const { bytesRead } = await h.read(buf, got, buf.length - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
          if (got === buf.length) break;
        }
        return new Uint8Array(buf.buffer, buf.byteOffset, got);
      } catch (e) {
        throw fsError(e, h ? 'read' : 'open', f);
      } finally {
        await h?.close();
      }
    },
  };
}
