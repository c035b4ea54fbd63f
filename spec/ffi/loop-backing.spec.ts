// ffi's loopConfigure refuses a backing path that is neither a regular file nor a block
// device before it opens it (review finding): the open is synchronous, and a FIFO with no
// writer blocked the JS thread in open(2) for good; openVerity attaches a loop to any data,
// hash or FEC path that is not a block device. Runs on temp files only: no loop device is
// touched (the checks fail before the loop node is opened).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loopConfigure } from '../../ffi/block.js';
import { ERRNO } from '../../ffi/errors.js';
import { DmSyscallError } from '../../lib/index.js';

const linux = process.platform === 'linux';
const onLinux = linux ? describe : describe.skip;
let tmp = '';
const structs = () => ({ config: new Uint8Array(304), status64: new Uint8Array(232) });

onLinux('loopConfigure backing file', () => {
  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'loop-backing-')); });
  afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  test('a FIFO is EINVAL before any open (a writer is held so the old code could not hang the test)', async () => {
    const fifo = path.join(tmp, 'fifo');
    const mk = spawnSync('mkfifo', [fifo]);
    if (mk.status !== 0) return; // no mkfifo here: the directory case below still runs
    // O_RDWR on a FIFO never blocks on Linux: with it held, an open of the FIFO returns.
    const writer = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      const e = await loopConfigure(path.join(tmp, 'no-loop'), fifo, true, structs).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DmSyscallError);
      expect((e as DmSyscallError).errno).toBe(ERRNO.EINVAL);
      expect((e as DmSyscallError).syscall).toBe('stat');
    } finally {
      fs.closeSync(writer);
    }
  });

  test('a directory is EINVAL before any open; a missing path is ENOENT', async () => {
    const e = await loopConfigure(path.join(tmp, 'no-loop'), tmp, true, structs).then(() => undefined, (x: unknown) => x);
    expect((e as DmSyscallError).errno).toBe(ERRNO.EINVAL);
    expect((e as DmSyscallError).syscall).toBe('stat');
    const m = await loopConfigure(path.join(tmp, 'no-loop'), path.join(tmp, 'missing'), true, structs).then(() => undefined, (x: unknown) => x);
    expect((m as DmSyscallError).errno).toBe(ERRNO.ENOENT);
  });

  test('a regular file passes the check (then the missing loop node fails the open)', async () => {
    const f = path.join(tmp, 'img');
    fs.writeFileSync(f, Buffer.alloc(4096));
    const e = await loopConfigure(path.join(tmp, 'no-loop'), f, true, structs).then(() => undefined, (x: unknown) => x);
    expect((e as DmSyscallError).errno).toBe(ERRNO.ENOENT);
    expect((e as DmSyscallError).syscall).toBe('open');
  });
});
