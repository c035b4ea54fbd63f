// The runner gates every command on its command-table row's minVersion: once the kernel's
// version is known, a command the kernel is too old for is refused with DmUnsupportedError
// before any ioctl (the simulated kernel would otherwise answer EINVAL from check_version()).
import { describe, expect, test } from '@jest/globals';
import { COMMANDS, commandSpec, type CommandName, type CommandRequests, type Version } from '../../codec/index.js';
import { DmUnsupportedError, FEATURES, type ControlTransport } from '../../lib/index.js';
import { IoctlRunner, compareVersions } from '../../lib/client/runner.js';
import { SimulatedKernel } from '../../testing/index.js';

/** A transport of a simulated kernel of `version` that counts the ioctls it is given. */
async function counted(version: Version): Promise<{ transport: ControlTransport; ioctls: () => number }> {
  const inner = await new SimulatedKernel({ version }).backend().openControl();
  let n = 0;
  const transport: ControlTransport = {
    get fd() { return inner.fd; },
    ioctl: (r, b) => { n++; return inner.ioctl(r, b); },
    ioctlAsync: (r, b, k) => { n++; return inner.ioctlAsync(r, b, k); },
    close: () => inner.close(),
  };
  return { transport, ioctls: () => n };
}

const PARAMS: Partial<{ [C in CommandName]: CommandRequests[C] }> = {
  armPoll: {},
  getTargetVersion: { target: 'linear' },
  listVersions: {},
  message: { id: { name: 'x' }, sector: 0, message: 'hello' },
  setGeometry: { id: { name: 'x' }, cylinders: 1, heads: 1, sectorsPerTrack: 1, startSectors: 0 },
};

describe('every command is gated on its row of the command table', () => {
  const newer = COMMANDS.filter((c) => compareVersions(commandSpec(c).minVersion, [4, 0, 0]) > 0);

  test('the commands newer than 4.0 are the ones this spec issues', () => {
    expect([...newer].sort()).toEqual(Object.keys(PARAMS).sort());
  });

  test.each(newer)('%s: a kernel one minor older refuses it before any ioctl (sync and async)', async (command) => {
    const min = commandSpec(command).minVersion;
    const { transport, ioctls } = await counted([4, min[1] - 1, 0]);
    const runner = new IoctlRunner(transport, undefined);
    runner.runSync('version', {}); // learns the kernel's version
    const before = ioctls();
    const params = PARAMS[command] as never;
    expect(() => runner.runSync(command, params)).toThrow(DmUnsupportedError);
    await expect(runner.runAsync(command, params)).rejects.toMatchObject({ code: 'UNSUPPORTED', feature: commandSpec(command).kernelName, required: min });
    expect(ioctls()).toBe(before);
  });

  test.each(newer)('%s: a kernel of exactly its minVersion gets the ioctl', async (command) => {
    const { transport, ioctls } = await counted([...commandSpec(command).minVersion]);
    const runner = new IoctlRunner(transport, undefined);
    runner.runSync('version', {});
    const before = ioctls();
    try { runner.runSync(command, PARAMS[command] as never); } catch (e) { expect(e).not.toBeInstanceOf(DmUnsupportedError); }
    expect(ioctls()).toBe(before + 1);
  });

  test('before the version is known the kernel decides (no gate on an unknown version)', async () => {
    const { transport, ioctls } = await counted([4, 36, 0]);
    const runner = new IoctlRunner(transport, undefined);
    expect(() => runner.runSync('armPoll', {})).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(ioctls()).toBe(1);
  });

  test("FEATURES' command versions are the table's", () => {
    expect(FEATURES.armPoll).toEqual(commandSpec('armPoll').minVersion);
    expect(FEATURES.getTargetVersion).toEqual(commandSpec('getTargetVersion').minVersion);
  });
});
