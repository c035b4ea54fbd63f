// Runs dmctl against the simulated kernel, with an in-memory /dev/mapper and sysfs in a temp dir.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceMapper, inspect } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { run } from '../../cli/index.js';
import type { NodeOps } from '../../lib/udev/device-nodes.js';
import type { CookieHost } from '../../lib/udev/cookies.js';

export interface CliResult { code: number; stdout: string; stderr: string }

/** An in-memory node directory: path → dev (or 'other'). */
export function memoryNodes(): NodeOps & { nodes: Map<string, { major: number; minor: number } | 'other'> } {
  const nodes = new Map<string, { major: number; minor: number } | 'other'>();
  return {
    nodes,
    stat: (p) => nodes.get(p),
    exists: (p) => nodes.has(p),
    async mknod(p, major, minor) {
      if (nodes.has(p)) throw Object.assign(new Error('EEXIST'), { errno: 17 });
      nodes.set(p, { major, minor });
    },
    unlink(p) {
      if (!nodes.delete(p)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    rename(a, b) {
      const v = nodes.get(a);
      if (v === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      nodes.delete(a);
      nodes.set(b, v);
    },
    chown() {},
    readdir: (dir) => [...nodes.keys()].filter((p) => path.dirname(p) === dir).map((p) => path.basename(p)),
  };
}

export function cliEnv(kernel = new SimulatedKernel()) {
  const ops = memoryNodes();
  const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-sysfs-'));
  const dmctl = async (argv: string[], opts: { stdin?: string; env?: Record<string, string>; columns?: number; cookieHost?: () => Promise<CookieHost> } = {}): Promise<CliResult> => {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, {
      stdout: (t) => { stdout += t; },
      stderr: (t) => { stderr += t; },
      readStdin: async () => opts.stdin ?? '',
      stdinIsTTY: opts.stdin === undefined,
      env: opts.env ?? {},
      open: (o) => DeviceMapper.open({ backend: kernel.backend(), ...(o?.skipOpenCount ? { skipOpenCount: true } : {}) }),
      inspect: () => inspect({ backend: kernel.backend() }),
      sysfs,
      columns: opts.columns,
      nodes: { dir: '/dev/mapper', udev: false, ops },
      ...(opts.cookieHost ? { cookieHost: opts.cookieHost } : kernel.udev ? { cookieHost: async () => kernel.udev!.host() } : {}),
    });
    return { code, stdout, stderr };
  };
  return { kernel, dmctl, nodes: ops.nodes, sysfs, cleanup: () => fs.rmSync(sysfs, { recursive: true, force: true }) };
}

/** Makes sysfs entries libdm reads: bdi/read_ahead_kb, dm/name, and the block device link. */
export function fakeSysfs(sysfs: string, dev: { major: number; minor: number }, kernelName: string, dmName?: string, readAheadKb = 128): void {
  const real = path.join(sysfs, 'devices', 'virtual', 'block', kernelName);
  fs.mkdirSync(path.join(real, 'bdi'), { recursive: true });
  fs.writeFileSync(path.join(real, 'bdi', 'read_ahead_kb'), `${readAheadKb}\n`);
  if (dmName !== undefined) {
    fs.mkdirSync(path.join(real, 'dm'), { recursive: true });
    fs.writeFileSync(path.join(real, 'dm', 'name'), `${dmName}\n`);
  }
  fs.mkdirSync(path.join(sysfs, 'dev', 'block'), { recursive: true });
  const link = path.join(sysfs, 'dev', 'block', `${dev.major}:${dev.minor}`);
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.join('..', '..', 'devices', 'virtual', 'block', kernelName), link);
}
