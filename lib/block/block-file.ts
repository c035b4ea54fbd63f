/**
 * A file or block device opened for positional I/O through a client's backend: the host's
 * files and devices on the real backend, the simulator's memory on a simulated one (an
 * active thin device's bytes are its pool's data blocks there). Code that copies device
 * bytes (a backup of a thin snapshot: examples/thin-backup.ts) runs unchanged on both.
 *
 * ```ts
 * import { openBlockFile } from 'devicemapper';
 * const f = await openBlockFile('/dev/mapper/thin1', { dm, mode: 'write' });
 * try { await f.write(0n, new Uint8Array(4096).fill(1)); } finally { await f.close(); }
 * ```
 */
import { optionsArg, valueArg } from '../client/args.js';
import { DmArgumentError } from '../errors.js';
import type { BlockFile, BlockFileCallOptions } from '../kernel/backend.js';
import type { BlockCallOptions } from './loop-devices.js';
import { runBlock } from './block-io.js';
import { boundBlockFile } from './bounded-file.js';

/** Options of {@link openBlockFile}. */
export interface OpenBlockFileOptions extends BlockCallOptions {
  /**
   * `read` (default); `write` (an existing file or device, read and written); `create` (a
   * file made when missing, mode 0600, never truncated).
   */
  readonly mode?: 'read' | 'write' | 'create';
}

/**
 * Opens `path` through `options.dm`'s backend (the host's when absent) for positional reads
 * (and writes unless `mode` is `read`). Close it when done, or open it with `await using`. A
 * missing path is `DmSyscallError` ENOENT; on the simulator, a path it does not know is
 * ENOENT, never the host's file. Every call on the handle takes its own `{ signal, timeoutMs }`
 * ({@link BlockFileCallOptions}: what a call cut short leaves is said there).
 */
export async function openBlockFile(path: string, options: OpenBlockFileOptions = {}): Promise<BlockFile & AsyncDisposable> {
  valueArg(path, 'path', 'string');
  // Refused here, not by open(2) (Node throws on a NUL; the simulator would make such a file).
  if (path.length === 0 || path.includes('\0')) throw new DmArgumentError('path', 'a non-empty path without NUL bytes', JSON.stringify(path));
  optionsArg(options, 'options', { dm: 'object', signal: 'signal', timeoutMs: 'any', mode: 'string' });
  const mode = options.mode ?? 'read';
  if (mode !== 'read' && mode !== 'write' && mode !== 'create') throw new DmArgumentError('options.mode', "'read', 'write' or 'create'", String(mode));
  return runBlock(options.dm, 'openBlockFile', options, async (op, io) => {
    // An open that lands after the caller gave up (signal, timeoutMs, close) is closed then: no fd is left behind.
    const f = await op.step(`opening ${path}`, () => io.openFile(path, mode), { onLate: (late) => late.close() });
    // Each call's own signal and timeoutMs, and `await using` (bounded-file.ts).
    return boundBlockFile(f);
  });
}
