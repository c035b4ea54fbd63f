/**
 * Child process of engine-start.spec.ts. argv[last] picks what it does while an ioctl engine's
 * worker is still starting (koffi being loaded in it):
 * - 'engine': closes that engine, then reports the process's threads once they are back to
 *   what they were (the worker exited);
 * - 'transport': closes the transport that started it (openControl + startEngine + close, as
 *   DeviceMapper.open({ engine: 'eager' }) followed at once by close() does); the engine is
 *   the process's, as after a first batch, and stays, unreferenced.
 * Either way the process must then exit on its own.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IoctlEngine } from '../../ffi/engine.js';
import { openControl } from '../../ffi/control.js';
import type { EngineStarter } from '../../ffi/types.js';

const threads = () => fs.readdirSync('/proc/self/task').length;

async function main(): Promise<void> {
  const mode = process.argv[process.argv.length - 1];
  // libuv's pool threads start on first use: start them before the baseline.
  await fs.promises.stat('/');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dm-engine-start-')), 'control');
  fs.writeFileSync(file, '');
  const before = threads();
  let readyAtClose: boolean;
  if (mode === 'engine') {
    const e = IoctlEngine.start({ fd: fs.openSync(file, 'r+'), libc: 'libc.so.6' });
    readyAtClose = e.ready;
    e.close();
  } else {
    let seen: IoctlEngine | undefined;
    const t = await openControl(file, { onEngine: (e) => { seen = e; } });
    (t as unknown as EngineStarter).startEngine();
    if (seen === undefined) throw new Error('startEngine started no engine');
    readyAtClose = seen.ready;
    t.close();
    process.stdout.write(JSON.stringify({ before, during: threads(), after: NaN, readyAtClose }));
    return;
  }
  const during = threads();
  // Back to the baseline: the worker has exited (hang guard: 15 s).
  for (let i = 0; i < 1500 && threads() > before; i++) await new Promise((r) => setTimeout(r, 10));
  process.stdout.write(JSON.stringify({ before, during, after: threads(), readyAtClose }));
}

void main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
