// Helpers for the real-tools suite (realtools.live.spec.ts): run LVM2, cryptsetup,
// integritysetup, veritysetup and dmsetup in the VM without udev, and compare dmctl with
// dmsetup. The tools come from the host root (vm/run-in-vm.sh installs them with
// DMVM_REALTOOLS=1).
import { spawnSync } from 'node:child_process';
import { run } from '../../cli/index.js';

/** The guest has no udev: dmsetup, LVM and cryptsetup make /dev/mapper nodes themselves. */
export const toolEnv: NodeJS.ProcessEnv = { ...process.env, DM_DISABLE_UDEV: '1', LVM_SUPPRESS_FD_WARNINGS: '1' };

/**
 * LVM without udev, lvmetad, lvmpolld or dmeventd: it waits for no udev cookie, scans the
 * block devices itself, and polls (snapshot merge) in the foreground. No devices file: the
 * loop devices are the only PVs and are not listed in one.
 */
export const LVM_CONFIG =
  'activation{udev_sync=0 udev_rules=0 monitoring=0} devices{obtain_device_list_from_udev=0 use_devicesfile=0 scan_lvs=0} global{use_lvmpolld=0}';

export interface Out { readonly code: number; readonly stdout: string; readonly stderr: string }

/** Runs a tool; never throws. */
export function tool(cmd: string, ...args: string[]): Out {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: toolEnv, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** Runs a tool and throws with its stderr when it fails. */
export function must(cmd: string, ...args: string[]): string {
  const r = tool(cmd, ...args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} → exit ${r.code}\n${r.stderr.trim()}${kernelLog()}`);
  return r.stdout;
}

/** The kernel's last log lines (why a table was refused), for failure messages. */
function kernelLog(): string {
  const r = spawnSync('dmesg', [], { encoding: 'utf8' });
  const lines = (r.stdout ?? '').split('\n').filter(Boolean).slice(-4);
  return lines.length ? `\n  kernel: ${lines.join('\n  kernel: ')}` : '';
}

/** An `lvm` subcommand with the udev-less configuration. */
export function lvm(sub: string, ...args: string[]): Out {
  return tool('lvm', sub, '--config', LVM_CONFIG, ...args);
}

export function lvmMust(sub: string, ...args: string[]): string {
  const r = lvm(sub, ...args);
  if (r.code !== 0) throw new Error(`lvm ${sub} ${args.join(' ')} → exit ${r.code}\n${r.stderr.trim()}${kernelLog()}`);
  return r.stdout;
}

export function dmsetup(...args: string[]): Out {
  return tool('dmsetup', ...args);
}

/** dmctl in process (same code as bin/dmctl.js), with the tools' environment. */
export async function dmctl(...args: string[]): Promise<Out> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: toolEnv, stdinIsTTY: true });
  return { code, stdout, stderr };
}

/** One dmctl/dmsetup disagreement: the arguments and both outputs. */
export interface Difference { readonly args: readonly string[]; readonly dmsetup: Out; readonly dmctl: Out }

/** Runs both tools with the same arguments; a Difference when stdout or exit status differ. */
export async function compare(...args: string[]): Promise<Difference | undefined> {
  const a = dmsetup(...args);
  const b = await dmctl(...args);
  return a.stdout === b.stdout && a.code === b.code ? undefined : { args, dmsetup: a, dmctl: b };
}

/** True when a command is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { env: toolEnv }).status === 0;
}
