// dmsetup and dmctl on the same arguments, for the live specs that compare the two: dmsetup
// as a process, dmctl in this process (its CLI's run(), stdin a terminal as dmsetup's is).
import { spawnSync } from 'node:child_process';
import { run } from '../../cli/index.js';

/** What one tool printed and its exit status. */
export interface ToolOut { code: number; stdout: string; stderr: string }

/** `dmsetup <args>` with `env`. */
export function runDmsetup(env: NodeJS.ProcessEnv, args: readonly string[]): ToolOut {
  const r = spawnSync('dmsetup', args, { encoding: 'utf8', env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `dmctl <args>` in process with `env`. */
export async function runDmctl(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<ToolOut> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, stdinIsTTY: true });
  return { code, stdout, stderr };
}
