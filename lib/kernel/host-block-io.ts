/**
 * The host's files, block devices, loop devices and device nodes: the real backend's
 * {@link BlockIo}, over ffi/block.ts (the loop driver's ioctls, BLKGETSIZE64, BLKDISCARD,
 * mknod) and Node's fs. Only this module and ffi/ touch them; everything above reaches it
 * through the client's backend, so the simulator can answer the same calls in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  blockDeviceBytes, blockDiscard, blockFlushBuffers, DmSyscallError, loopClear, openFiemapFile, loopConfigure, loopGetFree, loopSetCapacity, loopStatus, LO_FLAGS_READ_ONLY,
} from '../../ffi/block.js';
import { ERRNO } from '../../ffi/errors.js';
import { decodeLoopInfo, loopConfigBytes, loopInfoBytes, LOOP_INFO64_SIZE, type LoopInfo } from './syscall-structs.js';
import { realNodeOps } from '../udev/device-nodes.js';
import type { AttachedLoop, BlockFile, BlockIo, FileMapHandle, LoopAttachRequest, LoopStatus } from './backend.js';

/**
 * glibc's gnu_dev_major()/gnu_dev_minor() of a stat rdev (the inverse of ffi/block.ts's
 * makedev): major = bits 8–19 and 32–43, minor = bits 0–7 and 20–31.
 */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

async function waitForLoopNode(p: string): Promise<void> {
  // devtmpfs creates /dev/loopN when LOOP_CTL_GET_FREE adds it; allow it a moment.
  for (let i = 0; i < 100; i++) {
    if (fs.existsSync(p)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function fsError(e: unknown, what: string, syscall: string, p: string): DmSyscallError {
  const code = (e as NodeJS.ErrnoException).code;
  const errno = code && Object.hasOwn(ERRNO, code) ? ERRNO[code as keyof typeof ERRNO] : Math.abs((e as NodeJS.ErrnoException).errno ?? 0);
  return new DmSyscallError(what, { errno, syscall, path: p });
}

async function attachLoop(file: string, r: LoopAttachRequest): Promise<AttachedLoop> {
  const abs = path.resolve(file);
  const flags = r.flags | (r.readOnly ? LO_FLAGS_READ_ONLY : 0);
  for (let attempt = 1; ; attempt++) {
    const n = await loopGetFree();
    const p = `/dev/loop${n}`;
    await waitForLoopNode(p);
    let held: number | undefined;
    try {
      const info: LoopInfo = { flags, fileName: abs, offset: r.offsetBytes, sizeLimit: r.sizeLimitBytes };
      held = await loopConfigure(p, abs, r.readOnly, (fileFd) => ({
        config: loopConfigBytes(fileFd, r.blockSizeBytes, info),
        // LOOP_SET_STATUS64 cannot change read-only (the fd's mode decides): the flag is left out.
        status64: loopInfoBytes({ ...info, flags: flags & ~LO_FLAGS_READ_ONLY }),
      }), r.keepOpen === true);
    } catch (e) {
      if (e instanceof DmSyscallError && e.errno === ERRNO.EBUSY && attempt < r.retries) continue;
      throw e;
    }
    const fd = held;
    let open = fd !== undefined;
    const release = async () => { if (open) { open = false; fs.closeSync(fd!); } };
    try {
      const { major, minor } = splitDev(fs.statSync(p, { bigint: true }).rdev);
      return { path: p, number: n, major, minor, file: abs, sizeBytes: await blockDeviceBytes(p), ...(fd !== undefined ? { release } : {}) };
    } catch (e) {
      // The loop stays attached (as without keepOpen); only the fd is not leaked.
      await release();
      throw e;
    }
  }
}

/**
 * A host file or block device for positional I/O (BlockIo.openFile). `create` opens with
 * O_CREAT and mode 0600 but without O_TRUNC: veritysetup's hash image keeps what lies outside
 * the areas it writes.
 */
async function openFile(p: string, mode: 'read' | 'write' | 'create'): Promise<BlockFile> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(p, mode === 'read' ? 'r' : mode === 'write' ? 'r+' : fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  } catch (e) {
    throw fsError(e, `opening ${p}`, 'open', p);
  }
  let closed = false;
  const pos = (o: bigint | number) => (typeof o === 'bigint' ? Number(o) : o);
  return {
    path: p,
    async sizeBytes() {
      try {
        const st = await fh.stat({ bigint: true });
        return st.isBlockDevice() ? await blockDeviceBytes(p) : st.size;
      } catch (e) {
        if (e instanceof DmSyscallError) throw e;
        throw fsError(e, `the size of ${p}`, 'fstat', p);
      }
    },
    async read(offsetBytes, into) {
      let done = 0;
      try {
        while (done < into.length) {
          const { bytesRead } = await fh.read(into, done, into.length - done, pos(offsetBytes) + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
      } catch (e) {
        throw fsError(e, `reading ${p}`, 'pread', p);
      }
      return done;
    },
    readSync(offsetBytes, into) {
      if (closed) throw new DmSyscallError(`reading ${p}`, { errno: ERRNO.EBADF, syscall: 'pread', path: p });
      let done = 0;
      try {
        while (done < into.length) {
          const got = fs.readSync(fh.fd, into, done, into.length - done, pos(offsetBytes) + done);
          if (got === 0) break;
          done += got;
        }
      } catch (e) {
        throw fsError(e, `reading ${p}`, 'pread', p);
      }
      return done;
    },
    async dropCachedPages() {
      try {
        const st = await fh.stat();
        if (st.isBlockDevice()) await blockFlushBuffers(p);
      } catch (e) {
        if (e instanceof DmSyscallError) throw e;
        throw fsError(e, `the page cache of ${p}`, 'fstat', p);
      }
    },
    async write(offsetBytes, bytes) {
      let done = 0;
      try {
        while (done < bytes.length) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, pos(offsetBytes) + done);
          done += bytesWritten;
        }
      } catch (e) {
        throw fsError(e, `writing ${p}`, 'pwrite', p);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

/** The host's BlockIo (the real backend's). */
export const hostBlockIo: BlockIo = {
  async sizeBytes(device) {
    // A device named major:minor (an opened pool's table) may have no node without udev: sysfs has its size.
    if (/^\d+:\d+$/.test(device)) {
      const f = `/sys/dev/block/${device}/size`;
      try {
        return BigInt(fs.readFileSync(f, 'utf8').trim()) * 512n;
      } catch (e) {
        throw fsError(e, `the size of ${device}`, 'open', f);
      }
    }
    return blockDeviceBytes(device);
  },
  discard: (device, offsetBytes, lengthBytes) => blockDiscard(device, offsetBytes, lengthBytes),
  attachLoop,
  detachLoop: (p) => loopClear(p),
  async loopStatus(p): Promise<LoopStatus | undefined> {
    try {
      const d = decodeLoopInfo(await loopStatus(p, LOOP_INFO64_SIZE));
      return { device: d.device, inode: d.inode, rdevice: d.rdevice, offsetBytes: d.offset, sizeLimitBytes: d.sizeLimit, number: d.number, flags: d.flags, fileName: d.fileName };
    } catch (e) {
      if (e instanceof DmSyscallError && e.errno === ERRNO.ENXIO) return undefined;
      throw e;
    }
  },
  refreshLoop: (p) => loopSetCapacity(p),
  async ensureFile(file, sizeBytes) {
    let made = false;
    try {
      if (!fs.existsSync(file)) {
        if (sizeBytes === undefined) throw new DmSyscallError(`${file} does not exist; give its size to create it`, { errno: ERRNO.ENOENT, syscall: 'open', path: file });
        fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
        fs.writeFileSync(file, '', { flag: 'wx' });
        made = true;
      }
      if (sizeBytes !== undefined && BigInt(fs.statSync(file).size) < sizeBytes) {
        fs.truncateSync(file, Number(sizeBytes));
        return made ? 'created' : 'grown';
      }
      return made ? 'created' : 'kept';
    } catch (e) {
      if (made) fs.rmSync(file, { force: true });
      if (e instanceof DmSyscallError) throw e;
      throw fsError(e, `preparing ${file}`, 'open', file);
    }
  },
  async removeFile(file) { fs.rmSync(file, { force: true }); },
  openFile,
  async openFileMap(p): Promise<FileMapHandle> {
    const f = await openFiemapFile(p);
    return { path: p, device: splitDev(f.device), regular: f.regular, filesystemType: f.filesystemType, allocatedSectors: async () => f.allocatedSectors(), fiemap: (b) => f.fiemap(b), close: async () => f.close() };
  },
  // A getter: device-nodes.ts may still be loading when this module is (they import each other through the client).
  get nodes() { return realNodeOps; },
};
