// `--exec` with hostile device names (review): the command runs without a shell, and the
// device's node path is one argument, whatever the name holds (spaces, ';', '$(...)', a
// newline, a leading '-'), as dmsetup passes it. The real runner (no `exec` stub) runs
// `touch` on each path under a temp directory: the files it makes are the proof of the argv
// it got, and no name's text ran as a command.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SimulatedKernel } from '../../testing/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { cliEnv, memoryNodes } from './harness.js';

const HOSTILE = ['a b', 'x;touch PWNED1', '$(touch PWNED2)', '`touch PWNED3`', 'n\nl', '-rf', "q'\"&|>PWNED4"];
let env: ReturnType<typeof cliEnv>;
let dir = '';
beforeEach(() => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-exec-'));
});
afterEach(() => { env.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

const touch = fs.existsSync('/usr/bin/touch') ? '/usr/bin/touch' : fs.existsSync('/bin/touch') ? '/bin/touch' : undefined;
(touch ? describe : describe.skip)('--exec with hostile device names', () => {
  test.each(['ls', 'table', 'status'])('%s --exec: each node path is one argument; nothing of a name runs', async (verb) => {
    // Made by another program (the library here): '-rf' is an option to dmctl's parser, as to dmsetup's.
    const dm = await DeviceMapper.open({ backend: env.kernel.backend() });
    for (const name of HOSTILE) await dm.createDevice({ name, table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    dm.close();
    let stderr = '';
    const code = await run([verb, '--exec', touch!], {
      stdout: () => {}, stderr: (t) => { stderr += t; }, readStdin: async () => '', stdinIsTTY: true, env: {},
      open: () => DeviceMapper.open({ backend: env.kernel.backend() }), sysfs: env.sysfs, nodes: { dir, udev: false, ops: memoryNodes() },
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.readdirSync(dir).sort()).toEqual([...HOSTILE].sort());
    for (const where of [dir, process.cwd(), os.tmpdir()]) expect(fs.readdirSync(where).filter((f) => f.startsWith('PWNED'))).toEqual([]);
  });
});
