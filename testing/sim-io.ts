/**
 * The simulated kernel's files, block devices, loop devices and device nodes: the
 * `blockIo` of its backend (lib/kernel/backend.ts's BlockIo), so ThinPool, FaultyDevice,
 * discardBlocks, the loop-device functions and the node functions run on the simulator
 * without touching the host. Files live in memory; a loop device is a simulated block
 * device (major 7) sized from its file; sizes of mapped devices are their live tables';
 * BLKDISCARD of a thin device unmaps its blocks in the simulated pool; nodes live in an
 * in-memory /dev. Every call is recorded in `calls` for tests to check the order.
 *
 * Loop devices' autoclear is the kernel's (drivers/block/loop.c lo_release, loop_clr_fd):
 * an LO_FLAGS_AUTOCLEAR loop is detached at the last close of the device, where the openers
 * are the fds on it (an attacher that keeps its fd, `openFile` of the loop) and the dm
 * tables naming it (live or inactive: the table holds it open). An attach that does not keep
 * its fd closes it at once, which detaches an autoclear loop nothing else holds; LOOP_CLR_FD
 * of a device still open only sets autoclear.
 *
 * A thin pool's metadata device (a loop, another block device or a dm device) reads as the
 * pool's metadata image (thin-metadata-image.ts), built at each read from the pool's state as
 * it is then, so a reader sees what the kernel's metadata would hold; its backing file's own
 * bytes are not rewritten. An active thin device reads and writes its pool's data blocks
 * (thin-sim.ts `readBytes`/`writeBytes`); other dm devices read as zeros and are read-only.
 * `/dev/block/<major>:<minor>` names any simulated block device.
 */
import * as path from 'node:path';
import { DmSyscallError, ERRNO, type AttachedLoop, type BlockFile, type BlockIo, type FileMapHandle, type LoopStatus, type NodeOps } from '../lib/index.js';
import { compile, fiemap, fiemapExtent, viewOf } from '../codec/index.js';
import type { SimDevice, SimulatedKernel } from './simulator.js';
import { thinSim, type SimPool } from './thin-sim.js';
import { readImage } from './thin-metadata-image.js';
import { SimError } from './errors.js';

/** The kernel's LO_FLAGS_AUTOCLEAR (include/uapi/linux/loop.h); testing reaches no ffi module but ffi/errors. */
const LO_FLAGS_AUTOCLEAR = 4;

/** A simulated kernel's BlockIo, with its state open to tests. */
export interface SimBlockIo extends BlockIo {
  /** The in-memory files: path → size in bytes. */
  readonly files: Map<string, bigint>;
  /** Attached loop devices: `/dev/loopN` → what was attached. */
  readonly loops: Map<string, { readonly file: string; readonly offsetBytes: bigint; readonly sizeLimitBytes: bigint; readonly flags: number }>;
  /** The in-memory device nodes: path → device number (or 'other' for a non-block file). */
  readonly nodeMap: Map<string, { major: number; minor: number } | 'other'>;
  /** `discard /dev/dm-3`, `attach f /dev/loop0`, `autoclear /dev/loop0`, … in call order. */
  readonly calls: string[];
  /** Open fds on each loop device (an attacher's kept fd, `openFile`); a dm table's hold is not counted here. */
  readonly loopFds: ReadonlyMap<string, number>;
  /**
   * A dm table naming `devicePath` was dropped (the simulated kernel calls this): if no fd
   * and no other table holds it, an autoclear loop is detached, as at the kernel's last close.
   */
  tableReleased(devicePath: string): void;
  /** The written bytes of the in-memory files, in chunks of `SIM_FILE_CHUNK_BYTES` (a chunk never written reads as zeros). */
  readonly fileChunks: Map<string, Map<number, Uint8Array>>;
  /** The extents FS_IOC_FIEMAP reports for files (`mapFile`): path → map. */
  readonly fileMaps: Map<string, SimFileMap>;
  /**
   * Gives a simulated file the extents FIEMAP reports (setup for dm-stats file maps): it
   * lives on `device` (st_dev), and the last extent gets FIEMAP_EXTENT_LAST as the kernel
   * sets it. Calling it again replaces the map (a file that grew or was rewritten).
   */
  mapFile(file: string, map: SimFileMapInput): void;
  /**
   * Faults on the calls of opened files (`openFile`, `openBlockFile`), matched by path and
   * consulted in order before each call: `simFaults(kernel).delayFile` and `failFile` add them.
   */
  readonly fileFaults: SimFileFault[];
}

/** The calls of an opened simulated file a fault can hold or fail. */
export type SimFileCall = 'read' | 'write' | 'sizeBytes';

/** One fault on an opened file's calls (see {@link SimBlockIo.fileFaults}). */
export interface SimFileFault {
  /** The path the file was opened with (or its resolved form). */
  readonly path: string;
  /** Which call it applies to. */
  readonly call: SimFileCall;
  /** How many more matching calls it applies to. */
  left: number;
  /** Held this long before the call runs (a write lands when the hold ends). */
  readonly delayMs?: number;
  /** Then failed with this errno (a DmSyscallError), the file unchanged. */
  readonly errno?: number;
}

/** A simulated file's extents as `mapFile` takes them (byte offsets). */
export interface SimFileMapInput {
  /** The device holding the file (st_dev): a dm device's major:minor for a mappable file. */
  readonly device: { readonly major: number; readonly minor: number };
  /** Extents in file order; `flags` FIEMAP_EXTENT_* (default 0). */
  readonly extents: readonly { readonly logicalBytes: bigint; readonly physicalBytes: bigint; readonly lengthBytes: bigint; readonly flags?: number }[];
  /** Not a regular file (default: regular). */
  readonly regular?: boolean;
  /** statfs's f_type (default ext4's 0xef53). */
  readonly filesystemType?: number;
  /**
   * A fault hook: called with each FIEMAP reply buffer after the simulator filled it, to
   * corrupt it (hostile-reply tests), or to throw a DmSyscallError for a failed ioctl.
   */
  readonly tamper?: (reply: Uint8Array) => void;
}

/** A simulated file's map as stored. */
export interface SimFileMap extends SimFileMapInput {
  /** FIEMAP calls made on it. */
  fiemapCalls: number;
}

const fiemapCodec = compile(fiemap);
const extentCodec = compile(fiemapExtent);
/** FIEMAP_EXTENT_LAST. */
const EXTENT_LAST = 0x1;

/** FS_IOC_FIEMAP as a filesystem answers it: the extents ending after fm_start, as many as fit. */
function simFiemap(map: SimFileMap, buf: Uint8Array): void {
  const view = viewOf(buf);
  const h = fiemapCodec.decode(view, buf, 0);
  const start = h.fm_start;
  const room = Math.min(h.fm_extent_count, Math.floor((buf.length - fiemap.size) / fiemapExtent.size));
  const all = map.extents.map((e, i) => ({ ...e, flags: (e.flags ?? 0) | (i === map.extents.length - 1 ? EXTENT_LAST : 0) }));
  const out = all.filter((e) => e.logicalBytes + e.lengthBytes > start || e.logicalBytes >= start).slice(0, room);
  out.forEach((e, i) => extentCodec.encode(view, buf, fiemap.size + i * fiemapExtent.size, {
    fe_logical: e.logicalBytes, fe_physical: e.physicalBytes, fe_length: e.lengthBytes, fe_reserved64: [0n, 0n], fe_flags: e.flags, fe_reserved: [0, 0, 0],
  }));
  fiemapCodec.encode(view, buf, 0, { ...h, fm_mapped_extents: out.length });
  map.fiemapCalls++;
  map.tamper?.(buf);
}

/** The granularity of a simulated file's stored bytes. */
export const SIM_FILE_CHUNK_BYTES = 64 * 1024;

const cache = new WeakMap<SimulatedKernel, SimBlockIo>();

function fail(what: string, syscall: string, errno: number, p: string): never {
  throw new DmSyscallError(what, { errno, syscall, path: p });
}

/** The BlockIo of `kernel`'s backends (one per kernel: every client of a kernel sees the same files and loop devices). */
export function simBlockIo(kernel: SimulatedKernel): SimBlockIo {
  const known = cache.get(kernel);
  if (known) return known;
  const files = new Map<string, bigint>();
  const loops: SimBlockIo['loops'] = new Map();
  const nodeMap: SimBlockIo['nodeMap'] = new Map();
  const calls: string[] = [];
  const fileChunks = new Map<string, Map<number, Uint8Array>>();
  const loopFds = new Map<string, number>();
  const fileMaps = new Map<string, SimFileMap>();
  const fileFaults: SimFileFault[] = [];
  const abs = (f: string) => path.posix.resolve('/', f);
  const dmDevice = (p: string): SimDevice | undefined => {
    const m = /^\/dev\/(?:dm-(\d+)|mapper\/(.+))$/.exec(p) ?? /^(\d+):(\d+)$/.exec(p);
    if (!m) return undefined;
    if (p.startsWith('/dev/mapper/')) return kernel.devices.get(m[2]!);
    if (p.startsWith('/dev/dm-')) return [...kernel.devices.values()].find((d) => d.minor === Number(m[1]));
    return Number(m[1]) === kernel.major ? [...kernel.devices.values()].find((d) => d.minor === Number(m[2])) : undefined;
  };
  const loopSectors = (l: { file: string; offsetBytes: bigint; sizeLimitBytes: bigint }) => {
    const size = files.get(l.file) ?? 0n;
    let bytes = size > l.offsetBytes ? size - l.offsetBytes : 0n;
    if (l.sizeLimitBytes > 0n && l.sizeLimitBytes < bytes) bytes = l.sizeLimitBytes;
    return bytes / 512n;
  };
  const setBlock = (p: string, minor: number, sectors: bigint) => {
    const i = kernel.blockDevices.findIndex((b) => b.path === p);
    if (i >= 0) kernel.blockDevices.splice(i, 1);
    kernel.addBlockDevice(p, 7, minor, sectors);
  };
  /** Whether a table of any device (live or inactive) names the block device at `p`. */
  const tableHolds = (p: string) => {
    const b = kernel.blockDevices.find((x) => x.path === p);
    return b !== undefined && [...kernel.devices.values()].some((d) => [d.live, d.inactive].some((t) => t?.lines.some((l) => l.target.deps.some((x) => x.major === b.major && x.minor === b.minor))));
  };
  const drop = (p: string) => {
    loops.delete(p);
    const i = kernel.blockDevices.findIndex((b) => b.path === p);
    if (i >= 0) kernel.blockDevices.splice(i, 1);
  };
  /** A close of `p` (an fd, a table): the last one detaches an autoclear loop. */
  const afterClose = (p: string) => {
    const l = loops.get(p);
    if (!l || (l.flags & LO_FLAGS_AUTOCLEAR) === 0 || (loopFds.get(p) ?? 0) > 0 || tableHolds(p)) return;
    calls.push(`autoclear ${p}`);
    drop(p);
  };
  const openFd = (p: string) => { if (loops.has(p)) loopFds.set(p, (loopFds.get(p) ?? 0) + 1); };
  const closeFd = (p: string) => {
    const n = (loopFds.get(p) ?? 0) - 1;
    if (n > 0) loopFds.set(p, n);
    else loopFds.delete(p);
    afterClose(p);
  };
  /** A call that opens the device and closes it again (an ioctl through its own fd). */
  const touch = (p: string) => { if (loops.has(p)) { openFd(p); closeFd(p); } };
  const nodes: NodeOps = {
    // An in-memory file is 'other', as a regular file is on the host.
    stat: (p) => nodeMap.get(p) ?? (files.has(abs(p)) ? 'other' : undefined),
    exists: (p) => nodeMap.has(p),
    async mknod(p, major, minor) {
      calls.push(`mknod ${p} ${major}:${minor}`);
      if (nodeMap.has(p)) fail('mknod', 'mknod', ERRNO.EEXIST, p);
      nodeMap.set(p, { major, minor });
    },
    unlink(p) {
      calls.push(`unlink ${p}`);
      if (!nodeMap.delete(p)) throw Object.assign(new Error(`ENOENT: no such file or directory, unlink '${p}'`), { code: 'ENOENT', errno: -ERRNO.ENOENT });
    },
    rename(a, b) {
      calls.push(`rename ${a} ${b}`);
      const v = nodeMap.get(a);
      if (v === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, rename '${a}'`), { code: 'ENOENT', errno: -ERRNO.ENOENT });
      nodeMap.delete(a);
      nodeMap.set(b, v);
    },
    chown() {},
    readdir: (dir) => [...nodeMap.keys()].filter((p) => path.posix.dirname(p) === dir).map((p) => path.posix.basename(p)),
  };
  const io: SimBlockIo = {
    files,
    loops,
    nodeMap,
    calls,
    nodes,
    fileChunks,
    loopFds,
    tableReleased: afterClose,
    async openFile(p, mode) {
      calls.push(`open ${p} ${mode}`);
      return openSimFile(p, mode);
    },
    fileMaps,
    fileFaults,
    mapFile(file, map) {
      const f = abs(file);
      if (!files.has(f)) files.set(f, map.extents.reduce((n, e) => (e.logicalBytes + e.lengthBytes > n ? e.logicalBytes + e.lengthBytes : n), 0n));
      fileMaps.set(f, { ...map, extents: map.extents.map((e) => ({ ...e })), fiemapCalls: 0 });
    },
    async openFileMap(p): Promise<FileMapHandle> {
      calls.push(`fiemap-open ${p}`);
      const f = abs(p);
      if (!files.has(f)) fail('FS_IOC_FIEMAP', 'open', ERRNO.ENOENT, f);
      let open = true;
      const map = () => {
        if (!open) fail('FS_IOC_FIEMAP', 'ioctl', ERRNO.EBADF, f);
        // A file without a map is on no device-mapper device (st_dev 0:0) and has no extents.
        return fileMaps.get(f) ?? { device: { major: 0, minor: 0 }, extents: [], fiemapCalls: 0 };
      };
      const m = map();
      return {
        path: p,
        device: { ...m.device },
        regular: m.regular !== false,
        filesystemType: m.filesystemType ?? 0xef53,
        allocatedSectors: async () => map().extents.reduce((n, e) => n + e.lengthBytes, 0n) / 512n,
        fiemap: async (buf) => { calls.push(`fiemap ${p}`); simFiemap(map(), buf); },
        close: async () => { open = false; },
      };
    },
    async ensureFile(file, sizeBytes) {
      calls.push(`ensure ${file} ${sizeBytes ?? ''}`.trim());
      const f = abs(file);
      const cur = files.get(f);
      if (cur === undefined && sizeBytes === undefined) fail(`${file} does not exist; give its size to create it`, 'open', ERRNO.ENOENT, file);
      if (cur === undefined) { files.set(f, sizeBytes!); return 'created'; }
      if (sizeBytes !== undefined && cur < sizeBytes) { files.set(f, sizeBytes); return 'grown'; }
      return 'kept';
    },
    async removeFile(file) {
      calls.push(`remove ${file}`);
      files.delete(abs(file));
      fileChunks.delete(abs(file));
    },
    async attachLoop(file, request): Promise<AttachedLoop> {
      const f = abs(file);
      if (!files.has(f)) fail('open the backing file', 'open', ERRNO.ENOENT, f);
      let n = 0;
      while (loops.has(`/dev/loop${n}`) || kernel.blockDevices.some((b) => b.path === `/dev/loop${n}`)) n++;
      const p = `/dev/loop${n}`;
      const l = { file: f, offsetBytes: request.offsetBytes, sizeLimitBytes: request.sizeLimitBytes, flags: request.flags | (request.readOnly ? 1 : 0) };
      loops.set(p, l);
      const sectors = loopSectors(l);
      setBlock(p, n, sectors);
      calls.push(`attach ${file} ${p}`);
      // The attacher's fd on the loop: kept, or closed now (the last close of an autoclear loop).
      openFd(p);
      let held = request.keepOpen === true;
      if (!held) closeFd(p);
      const release = async () => { if (held) { held = false; calls.push(`release ${p}`); closeFd(p); } };
      return { path: p, number: n, major: 7, minor: n, file: f, sizeBytes: sectors * 512n, ...(request.keepOpen === true ? { release } : {}) };
    },
    async detachLoop(p) {
      calls.push(`detach ${p}`);
      const l = loops.get(p);
      if (!l) fail('LOOP_CLR_FD', 'ioctl', ERRNO.ENXIO, p);
      // loop_clr_fd: a device open elsewhere (an fd besides the ioctl's own, a table) gets autoclear instead.
      if ((loopFds.get(p) ?? 0) > 0 || tableHolds(p)) {
        loops.set(p, { ...l, flags: l.flags | LO_FLAGS_AUTOCLEAR });
        return;
      }
      drop(p);
    },
    async loopStatus(p): Promise<LoopStatus | undefined> {
      const l = loops.get(p);
      if (!l) {
        if (/^\/dev\/loop\d+$/.test(p)) return undefined;
        fail('LOOP_GET_STATUS64', 'open', ERRNO.ENOENT, p);
      }
      touch(p);
      return {
        device: 0n, inode: 0n, rdevice: 0n, offsetBytes: l.offsetBytes, sizeLimitBytes: l.sizeLimitBytes, number: Number(p.slice('/dev/loop'.length)),
        flags: l.flags, fileName: l.file.slice(0, 63),
      };
    },
    async refreshLoop(p) {
      calls.push(`refresh ${p}`);
      const l = loops.get(p);
      if (!l) fail('LOOP_SET_CAPACITY', 'ioctl', ERRNO.ENXIO, p);
      setBlock(p, Number(p.slice('/dev/loop'.length)), loopSectors(l));
    },
    async sizeBytes(given) {
      const p = byNumber(given);
      const d = dmDevice(p);
      if (d) return (d.live?.lines ?? []).reduce((s, l) => s + l.length, 0n) * 512n;
      const b = kernel.blockDevices.find((x) => x.path === p || `${x.major}:${x.minor}` === p);
      if (!b) fail('BLKGETSIZE64', 'open', ERRNO.ENOENT, p);
      touch(p);
      return b.sizeSectors * 512n;
    },
    async discard(p, offsetBytes, lengthBytes) {
      calls.push(`discard ${p}`);
      const d = dmDevice(p);
      if (d) {
        // A thin device gives its blocks back to the simulated pool; other devices keep no data to drop.
        if (d.live?.lines.length === 1 && d.live.lines[0]!.type === 'thin') thinSim(kernel).discard(d.name, offsetBytes / 512n, lengthBytes / 512n);
        return;
      }
      if (!kernel.blockDevices.some((x) => x.path === p)) fail('BLKDISCARD', 'open', ERRNO.ENOENT, p);
    },
  };
  /** Bytes `[at, at + into.length)` of file `f` into `into` (unwritten chunks are zeros). */
  const readChunks = (f: string, at: number, into: Uint8Array) => {
    const chunks = fileChunks.get(f);
    into.fill(0);
    if (!chunks) return;
    for (let done = 0; done < into.length;) {
      const i = Math.floor((at + done) / SIM_FILE_CHUNK_BYTES);
      const within = (at + done) % SIM_FILE_CHUNK_BYTES;
      const n = Math.min(SIM_FILE_CHUNK_BYTES - within, into.length - done);
      const c = chunks.get(i);
      if (c) into.set(c.subarray(within, within + n), done);
      done += n;
    }
  };
  const writeChunks = (f: string, at: number, bytes: Uint8Array) => {
    let chunks = fileChunks.get(f);
    if (!chunks) fileChunks.set(f, (chunks = new Map()));
    for (let done = 0; done < bytes.length;) {
      const i = Math.floor((at + done) / SIM_FILE_CHUNK_BYTES);
      const within = (at + done) % SIM_FILE_CHUNK_BYTES;
      const n = Math.min(SIM_FILE_CHUNK_BYTES - within, bytes.length - done);
      let c = chunks.get(i);
      if (!c) chunks.set(i, (c = new Uint8Array(SIM_FILE_CHUNK_BYTES)));
      c.set(bytes.subarray(done, done + n), within);
      done += n;
    }
  };
  /**
   * A simulated file, a loop device (its file's bytes from its offset), an active thin device
   * (its pool's data blocks) or another simulated block device (zeros of its size, read-only).
   */
  const openSimFile = async (given: string, mode: 'read' | 'write' | 'create'): Promise<BlockFile> => {
    const p = byNumber(given);
    const f = abs(p);
    const loop = loops.get(p);
    const blockBytes = loop ? undefined : dmDevice(p) ? await io.sizeBytes(p) : kernel.blockDevices.find((b) => b.path === p)?.sizeSectors;
    let backing: { file: string; offset: number; limit: number | undefined } | undefined;
    if (loop) {
      backing = { file: loop.file, offset: Number(loop.offsetBytes), limit: Number(loopSectors(loop) * 512n) };
      openFd(p);
    } else if (blockBytes === undefined) {
      if (!files.has(f)) {
        if (mode !== 'create') fail(`opening ${p}`, 'open', ERRNO.ENOENT, p);
        files.set(f, 0n);
      }
      backing = { file: f, offset: 0, limit: undefined };
    } else if (mode !== 'read' && (thinName(p) === undefined || dmDevice(p)?.live?.readOnly)) {
      // A read-only dm device (a thin activated readOnly too) is not opened for writing, as on the host.
      fail(`opening ${p} for writing`, 'open', ERRNO.EROFS, p);
    }
    const deviceBytes = dmDevice(p) ? blockBytes : blockBytes === undefined ? undefined : blockBytes * 512n;
    const pool = metadataPoolOf(p);
    let closed = false;
    const check = () => { if (closed) fail(`${p} is closed`, 'pread', ERRNO.EBADF, p); };
    const size = () => (backing ? (backing.limit !== undefined ? BigInt(backing.limit) : files.get(backing.file) ?? 0n) : deviceBytes!);
    /** The first fault set on this call of this file (simFaults' delayFile, failFile), used up as it applies. */
    const fault = async (call: SimFileCall, syscall: string): Promise<void> => {
      const i = fileFaults.findIndex((x) => x.call === call && (x.path === given || x.path === p || abs(x.path) === f));
      if (i < 0) return;
      const x = fileFaults[i]!;
      if (--x.left <= 0) fileFaults.splice(i, 1);
      if (x.delayMs !== undefined && x.delayMs > 0) await new Promise((r) => setTimeout(r, x.delayMs));
      if (x.errno !== undefined) fail(`${call} of ${p}`, syscall, x.errno, p);
    };
    return {
      path: p,
      async sizeBytes() {
        check();
        if (fileFaults.length > 0) { await fault('sizeBytes', 'fstat'); check(); }
        return size();
      },
      async read(offsetBytes, into) {
        check();
        if (fileFaults.length > 0) { await fault('read', 'pread'); check(); }
        const at = Number(offsetBytes);
        const n = Math.max(0, Math.min(into.length, Number(size()) - at));
        const thin = thinName(p);
        if (pool) readImage(thinSim(kernel).metadataImage(pool), at, into.subarray(0, n));
        else if (thin !== undefined) thinSim(kernel).readBytes(thin, at, into.subarray(0, n));
        else if (backing) readChunks(backing.file, backing.offset + at, into.subarray(0, n));
        else into.fill(0, 0, n);
        return n;
      },
      async write(offsetBytes, bytes) {
        check();
        if (fileFaults.length > 0) { await fault('write', 'pwrite'); check(); }
        const thin = thinName(p);
        if (mode !== 'read' && thin !== undefined) {
          if (Number(offsetBytes) + bytes.length > Number(size())) fail(`writing past the end of ${p}`, 'pwrite', ERRNO.ENOSPC, p);
          // A pool out of data space fails the bio (error_if_no_space; a queued bio is not modelled).
          if (!thinSim(kernel).writeBytes(thin, offsetBytes, bytes)) {
            // A pool in read-only or fail mode fails the bio with BLK_STS_IOERR (EIO); one out of data space with ENOSPC.
            const mode = thinSim(kernel).poolOfThin(thin).mode;
            if (mode === 'ro' || mode === 'fail') fail(`writing ${p}: the pool is in ${mode === 'ro' ? 'read-only' : 'fail'} mode`, 'pwrite', ERRNO.EIO, p);
            fail(`writing ${p}: the pool is out of data space`, 'pwrite', ERRNO.ENOSPC, p);
          }
          return;
        }
        if (mode === 'read' || !backing) fail(`${p} is open read-only`, 'pwrite', ERRNO.EBADF, p);
        const at = Number(offsetBytes);
        if (backing.limit !== undefined && at + bytes.length > backing.limit) fail(`writing past the end of ${p}`, 'pwrite', ERRNO.ENOSPC, p);
        writeChunks(backing.file, backing.offset + at, bytes);
        const end = BigInt(backing.offset + at + bytes.length);
        if ((files.get(backing.file) ?? 0n) < end) files.set(backing.file, end);
      },
      async close() {
        if (!closed && loop) closeFd(p);
        closed = true;
      },
    };
  };
  /** `/dev/block/<major>:<minor>` as the path of that device (dm devices as `/dev/dm-N`); other paths as given. */
  const byNumber = (p: string): string => {
    const m = /^\/dev\/block\/(\d+):(\d+)$/.exec(p);
    if (!m) return p;
    const [major, minor] = [Number(m[1]), Number(m[2])];
    if (major === kernel.major) return `/dev/dm-${minor}`;
    return kernel.blockDevices.find((b) => b.major === major && b.minor === minor)?.path ?? p;
  };
  /** The name of the dm device at `p` when its live table is one `thin` target (its bytes are the pool's data blocks). */
  const thinName = (p: string): string | undefined => {
    const d = dmDevice(p);
    return d?.live?.lines.length === 1 && d.live.lines[0]!.type === 'thin' ? d.name : undefined;
  };
  /** The pool whose metadata device `p` is (reads of it are the pool's metadata image). */
  const metadataPoolOf = (p: string): SimPool | undefined => {
    const d = dmDevice(p);
    const b = d ? { major: kernel.major, minor: d.minor } : kernel.blockDevices.find((x) => x.path === p);
    return b ? thinSim(kernel).poolOfMetadata(b.major, b.minor) : undefined;
  };
  cache.set(kernel, io);
  return io;
}
