/**
 * The simulated kernel's sysfs: the attributes of /sys/block the inspection API reads
 * (lib/inspect/), served from the model so nothing reaches the host. A mapped device is
 * `block/dm-<minor>` once its gendisk is registered (`diskAdded`: at create before dm 4.45,
 * at the first table load since), with `dm/name`, `dm/uuid`, `dm/suspended`, `dev`, `ro`,
 * `size`, and `slaves/` and `holders/` from the devices its live and inactive tables use
 * (bd_link_disk_holder() links both tables' devices: docs/sysfs-inspection.md). Block
 * devices added with `addBlockDevice` appear under their base name.
 */
import * as path from 'node:path';
import { DmSyscallError, ERRNO, type SysfsReader } from '../lib/index.js';
import type { SimDevice, SimulatedKernel } from './simulator.js';
import { keyBytes } from './sim-call.js';

const enc = new TextEncoder();

/** A simulated kernel's sysfs reader. */
export function simSysfs(kernel: SimulatedKernel): SysfsReader {
  const fail = (p: string, errno: number, syscall: string): never => {
    throw new DmSyscallError(`reading sysfs ${p}`, { errno, syscall, path: `/sys/${p}` });
  };
  const dmByName = (n: string): SimDevice | undefined => {
    const m = /^dm-(\d+)$/.exec(n);
    if (!m) return undefined;
    for (const d of kernel.devices.values()) if (d.diskAdded && d.minor === Number(m[1])) return d;
    return undefined;
  };
  const blockByName = (n: string) => kernel.blockDevices.find((b) => path.posix.basename(b.path) === n);
  const devOf = (n: string): { major: number; minor: number } | undefined => {
    const d = dmByName(n);
    if (d) return { major: kernel.major, minor: d.minor };
    const b = blockByName(n);
    return b ? { major: b.major, minor: b.minor } : undefined;
  };
  const nameOfDev = (major: number, minor: number): string | undefined => {
    if (major === kernel.major) {
      const d = [...kernel.devices.values()].find((x) => x.minor === minor && x.diskAdded);
      return d ? `dm-${d.minor}` : undefined;
    }
    const b = kernel.blockDevices.find((x) => x.major === major && x.minor === minor);
    return b ? path.posix.basename(b.path) : undefined;
  };
  /** The kernel names of the devices a device's tables hold (its slaves/). */
  const slaves = (d: SimDevice): string[] => {
    const out: string[] = [];
    for (const t of [d.live, d.inactive]) {
      for (const l of t?.lines ?? []) {
        for (const b of l.target.deps) {
          const n = nameOfDev(b.major, b.minor);
          if (n !== undefined && !out.includes(n)) out.push(n);
        }
      }
    }
    return out;
  };
  const holders = (n: string): string[] => {
    const out: string[] = [];
    for (const d of kernel.devices.values()) if (d.diskAdded && slaves(d).includes(n)) out.push(`dm-${d.minor}`);
    return out;
  };
  const line = (s: string | Uint8Array) => {
    const b = typeof s === 'string' ? enc.encode(s) : s;
    const out = new Uint8Array(b.length + 1);
    out.set(b);
    out[b.length] = 0x0a;
    return out;
  };
  const sizeSectors = (n: string): bigint => {
    const d = dmByName(n);
    if (d) return (d.live?.lines ?? []).reduce((s, l) => s + l.length, 0n);
    return blockByName(n)?.sizeSectors ?? 0n;
  };
  /** `block/<disk>[/slaves|holders/<disk>]/<rest>`: the disk the path ends on and what is asked of it. */
  const resolve = (p: string): { disk: string; rest: string[] } | undefined => {
    const parts = p.split('/').filter((x) => x !== '');
    if (parts[0] !== 'block' || parts.length < 2) return undefined;
    let disk = parts[1]!;
    if (devOf(disk) === undefined) return undefined;
    let rest = parts.slice(2);
    // slaves/X and holders/X are links to X's own directory.
    while ((rest[0] === 'slaves' || rest[0] === 'holders') && rest.length >= 2) {
      const list = rest[0] === 'slaves' ? (dmByName(disk) ? slaves(dmByName(disk)!) : []) : holders(disk);
      if (!list.includes(rest[1]!)) return undefined;
      disk = rest[1]!;
      rest = rest.slice(2);
    }
    return { disk, rest };
  };
  return {
    async readdir(p) {
      const parts = p.split('/').filter((x) => x !== '');
      if (parts.length === 1 && parts[0] === 'block') {
        const dms = [...kernel.devices.values()].filter((d) => d.diskAdded).map((d) => `dm-${d.minor}`);
        return [...kernel.blockDevices.map((b) => path.posix.basename(b.path)), ...dms];
      }
      const r = resolve(p);
      if (!r) return fail(p, ERRNO.ENOENT, 'readdir');
      const dm = dmByName(r.disk);
      const rest = r.rest.join('/');
      if (rest === '') return ['dev', 'ro', 'size', 'holders', 'slaves', ...(dm ? ['dm'] : [])];
      if (rest === 'slaves') return dm ? slaves(dm) : [];
      if (rest === 'holders') return holders(r.disk);
      if (rest === 'dm' && dm) return ['name', 'uuid', 'suspended', 'use_blk_mq', 'rq_based_seq_io_merge_deadline'];
      return fail(p, ERRNO.ENOENT, 'readdir');
    },
    async readFile(p, maxBytes) {
      const r = resolve(p);
      if (!r) return fail(p, ERRNO.ENOENT, 'open');
      const dm = dmByName(r.disk);
      const rest = r.rest.join('/');
      let value: Uint8Array;
      switch (rest) {
        case 'dev': { const d = devOf(r.disk)!; value = line(`${d.major}:${d.minor}`); break; }
        case 'size': value = line(String(sizeSectors(r.disk))); break;
        case 'ro': value = line(dm?.live?.readOnly ? '1' : '0'); break;
        case 'dm/name': if (!dm) return fail(p, ERRNO.ENOENT, 'open'); value = line(keyBytes(dm.name)); break;
        case 'dm/uuid': if (!dm) return fail(p, ERRNO.ENOENT, 'open'); value = line(dm.uuid === undefined ? new Uint8Array() : keyBytes(dm.uuid)); break;
        case 'dm/suspended': if (!dm) return fail(p, ERRNO.ENOENT, 'open'); value = line(dm.suspended ? '1' : '0'); break;
        case 'dm/use_blk_mq': if (!dm) return fail(p, ERRNO.ENOENT, 'open'); value = line('1'); break;
        case 'dm/rq_based_seq_io_merge_deadline': if (!dm) return fail(p, ERRNO.ENOENT, 'open'); value = line('0'); break;
        default: return fail(p, r.rest.length ? ERRNO.ENOENT : ERRNO.EISDIR, r.rest.length ? 'open' : 'read');
      }
      return value.subarray(0, maxBytes + 1);
    },
  };
}
