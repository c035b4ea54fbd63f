/**
 * `--exec <command>`: dmsetup's `_exec_command`, which `ls`, `table`, `status` and `measure`
 * share (all four go through its `_status`): the command line split on whitespace, the
 * device's node made if missing (`dm_mknodes`), then `<command> /dev/mapper/<name>` run and
 * waited for. The command's exit status is not the verb's (dmsetup ignores it too).
 */
import { spawnSync } from 'node:child_process';
import { nodePath, syncNodes, type DeviceMapper } from '../lib/index.js';
import type { Ctx } from './context.js';
import { UsageError } from './errors.js';

/** One run of the command: what `--json` lists (`DmctlSchemas.exec`). */
export interface ExecRun { name: string; path: string; exitCode: number | null }

/** dmsetup's `_exec_command` argument split: words on whitespace, at most 255, then the node's path. */
export function execArgs(command: string): string[] {
  const words = command.split(/[ \t\n\v\f\r]+/).filter((w) => w !== '');
  if (words.length === 0) throw new UsageError('--exec needs a command.');
  if (words.length >= 256) throw new UsageError('Too many args to --exec.');
  return words;
}

/**
 * Runs `words` with the node path of the device the kernel calls `kernelName` appended, after
 * making its node when dmctl manages nodes; `shownName` is the name printed and listed.
 */
export async function execOn(ctx: Ctx, dm: DeviceMapper, words: readonly string[], kernelName: string, shownName: string): Promise<ExecRun> {
  const o = ctx.nodeOptions();
  if (o) await syncNodes(dm, { ...o, name: kernelName });
  const dir = ctx.io.nodes === false ? undefined : ctx.io.nodes.dir;
  const path = nodePath(kernelName, dir);
  const exitCode = await (ctx.io.exec ?? defaultExec)([...words, path], ctx.json);
  return { name: shownName, path, exitCode };
}

/** Runs a command with dmctl's stdio (its stdout on stderr when dmctl's stdout is a JSON document). */
async function defaultExec(argv: readonly string[], stdoutToStderr: boolean): Promise<number | null> {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['inherit', stdoutToStderr ? 2 : 'inherit', 'inherit'] });
  return r.status;
}
