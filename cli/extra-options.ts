/**
 * dmsetup's options for the nodes and devices a create or resume makes: `-U/--uid`,
 * `-G/--gid`, `-M/--mode` (the /dev/mapper node's owner and mode, when dmctl makes the
 * node), `--readahead [+]<sectors>|auto|none` (libdm's `_set_dev_node_read_ahead`: the
 * device's `bdi/read_ahead_kb` in sysfs, `+` only raising it), `--addnodeoncreate` /
 * `--addnodeonresume` (when the node is made). Each is checked before anything is sent.
 */
import * as fs from 'node:fs';
import type { NodeOptions } from '../lib/index.js';
import type { Ctx } from './context.js';
import { UsageError } from './errors.js';
import { readAhead } from './format.js';

/** A `--readahead` value: undefined for `auto` (left to the kernel), else sectors and whether it is a minimum. */
export interface ReadAhead { readonly sectors: number; readonly minimum: boolean }

/** dmsetup's `--readahead` forms: `auto`, `none` (0), `<sectors>`, `+<sectors>` (only raise). */
export function parseReadAhead(v: string | undefined): ReadAhead | undefined {
  if (v === undefined || v.toLowerCase() === 'auto') return undefined;
  if (v.toLowerCase() === 'none') return { sectors: 0, minimum: false };
  const m = /^\s*(\+?)(\d{1,10})$/.exec(v);
  if (!m || Number(m[2]) > 0xffffffff) throw new UsageError(`Invalid read ahead value ${JSON.stringify(v)}: [+]<sectors>, auto or none.`);
  return { sectors: Number(m[2]), minimum: m[1] === '+' };
}

/** `-U`, `-G`, `-M`: the node's owner and mode (mode in octal, as dmsetup's strtol(…, 8)). */
export function nodeOwner(opts: Ctx['opts']): Pick<NodeOptions, 'uid' | 'gid' | 'mode'> {
  const id = (v: string | undefined, what: string) => {
    if (v === undefined) return undefined;
    if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) throw new UsageError(`Invalid argument for --${what}: ${v}`);
    return Number(v);
  };
  const uid = id(opts.uid, 'uid');
  const gid = id(opts.gid, 'gid');
  let mode: number | undefined;
  if (opts.mode !== undefined) {
    if (!/^[0-7]{1,6}$/.test(opts.mode) || parseInt(opts.mode, 8) === 0 || parseInt(opts.mode, 8) > 0o7777) throw new UsageError(`Invalid argument for --mode: ${opts.mode}.`);
    mode = parseInt(opts.mode, 8);
  }
  return { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}), ...(mode !== undefined ? { mode } : {}) };
}

/** Checks the options of create/resume before any ioctl (dmsetup refuses them while parsing). */
export function checkCreateOptions(ctx: Ctx): void {
  if (ctx.opts.addnodeoncreate && ctx.opts.addnodeonresume) throw new UsageError('--addnodeonresume and --addnodeoncreate are incompatible.');
  parseReadAhead(ctx.opts.readahead);
  nodeOwner(ctx.opts);
}

/**
 * libdm's read-ahead step: `bdi/read_ahead_kb` = (sectors + 1) / 2; with `+`, only when
 * the current value is lower. A device without a table has no bdi yet: nothing to set.
 */
export function setReadAhead(ctx: Ctx, dev: { major: number; minor: number }, ra: ReadAhead): void {
  const current = readAhead(ctx.io.sysfs, dev);
  if (current === undefined) return;
  if (ra.minimum && current >= ra.sectors) return;
  fs.writeFileSync(`${ctx.io.sysfs}/dev/block/${dev.major}:${dev.minor}/bdi/read_ahead_kb`, `${Math.floor((ra.sectors + 1) / 2)}`);
}
