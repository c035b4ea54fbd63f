// One error model: every error class of every entry point extends DmBaseError
// with a literal `code`; a closed client, transport or watcher is DmClosedError on every
// path; DmError carries the request header only (the kernel writes no reply header on
// failure); cleanupError is a declared field; one errno table feeds DmError and dmctl.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import * as root from '../../lib/index.js';
import {
  DeviceMapper, DmBaseError, DmClosedError, DmCodecError, DmError, DmFfiError, DmOperationError, DmSyscallError, DmTargetError, ERRNO, ERRNO_EXPLANATIONS,
  type DmErrorCode,
} from '../../lib/index.js';
import * as codecEntry from '../../codec/index.js';
import * as testingEntry from '../../testing/index.js';
import * as cliEntry from '../../cli/index.js';
import { SimulatedKernel } from '../../testing/index.js';
import { cliEnv, memoryNodes } from '../cli/harness.js';
import { formatError, ManglingError, ReportFieldError, UsageError } from '../../cli/errors.js';

// ---- compile-time: each `code` is a literal union, not `string` (tsc --noEmit checks these).
const ebusy: DmError['code'] = 'EBUSY';
// @ts-expect-error a DmError code is an errno name, not any string
const notErrno: DmError['code'] = 'NOT_AN_ERRNO';
const closed: DmClosedError['code'] = 'DM_CLOSED';
// @ts-expect-error DmClosedError's code is exactly DM_CLOSED
const notClosed: DmClosedError['code'] = 'DM_PERMISSION';
// @ts-expect-error DmCodecError's codes are its own
const notCodec: DmCodecError['code'] = 'EBUSY';
// @ts-expect-error DmTargetError's codes are its own
const notTarget: DmTargetError['code'] = 'DM_CLOSED';
// @ts-expect-error DmOperationError's codes are its own
const notOperation: DmOperationError['code'] = 'X';
// @ts-expect-error DmFfiError's codes are its own
const notFfi: DmFfiError['code'] = 'X';
const syscallCode: DmSyscallError['code'] = 'ENOENT';
// @ts-expect-error DmSyscallError's code is the errno's name: DM_SYSCALL is gone
const oldSyscallCode: DmSyscallError['code'] = 'DM_SYSCALL';
void oldSyscallCode;
// cleanupError is declared on every error of the package: read without a cast.
const cleanupOf = (e: DmBaseError): unknown => e.cleanupError;
// @ts-expect-error DmError has no reply header (the kernel writes none on failure)
const replyOf = (e: DmError): unknown => e.reply;
void [ebusy, notErrno, closed, notClosed, notCodec, notTarget, notOperation, notFfi, syscallCode, cleanupOf, replyOf];
const anyCode: DmErrorCode = `RETURNED_${1}`;
void anyCode;

const isErrorClass = (v: unknown): v is new (...a: never[]) => Error =>
  typeof v === 'function' && v.prototype instanceof Error;

describe('every error class of every entry point extends DmBaseError', () => {
  const entries = { root, codec: codecEntry, testing: testingEntry, cli: cliEntry, cliInternals: { UsageError, ManglingError, ReportFieldError } };
  test.each(Object.entries(entries))('%s', (_, mod) => {
    const classes = Object.entries(mod).filter(([, v]) => isErrorClass(v) && (v as unknown) !== DmBaseError);
    const stray = classes.filter(([, v]) => !((v as { prototype: object }).prototype instanceof DmBaseError)).map(([k]) => k);
    expect(stray).toEqual([]);
  });
  test('the root has the error classes the issue names (and they are many)', () => {
    const names = Object.entries(root).filter(([, v]) => isErrorClass(v)).map(([k]) => k);
    expect(names).toEqual(expect.arrayContaining(['DmError', 'DmCodecError', 'DmArgumentError', 'DmFfiError', 'DmClosedError', 'DmSyscallError', 'DmTargetError', 'DmTargetParseError',
      'DmOperationError', 'DmIdentityError', 'DmAbortError', 'DmUnsupportedError', 'DmUnavailableError', 'DmPermissionError', 'DmPlatformError', 'DmLibcError']));
  });
  test('a subclass keeps its own name and code', () => {
    const e = new DmClosedError('x');
    expect([e instanceof DmBaseError, e instanceof DmFfiError, e.name, e.code]).toEqual([true, true, 'DmClosedError', 'DM_CLOSED']);
  });
});

describe('a closed client is DmClosedError on every path (simulator)', () => {
  let kernel: SimulatedKernel;
  let dm: DeviceMapper;
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'a', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
  });
  afterEach(() => dm.close());

  test('a closed watcher refuses arm, check and wait (it used to answer as if open)', async () => {
    const w = await kernel.backend().openWatcher();
    w.close();
    expect(() => w.arm()).toThrow(DmClosedError);
    expect(() => w.check()).toThrow(DmClosedError);
    await expect(w.wait()).rejects.toThrow(DmClosedError);
  });

  test('a closed control transport refuses ioctls', async () => {
    const t = await kernel.backend().openControl();
    t.close();
    expect(() => t.ioctl(0, new Uint8Array(312))).toThrow(DmClosedError);
    await expect(t.ioctlAsync(0, new Uint8Array(312))).rejects.toThrow(DmClosedError);
  });

  test('every method, the pending wait and new events() after close()', async () => {
    const pending = dm.wait('a');
    await new Promise((r) => setTimeout(r, 10));
    dm.close();
    await expect(pending).rejects.toThrow(DmClosedError);
    const calls: [string, () => unknown][] = [
      ['version', () => dm.version()], ['versionSync', () => dm.versionSync()], ['list', () => dm.list()], ['info', () => dm.info('a')],
      ['table', () => dm.table('a')], ['status', () => dm.status('a')], ['deps', () => dm.deps('a')], ['listVersions', () => dm.listVersions()],
      ['wait', () => dm.wait('a')], ['wait table', () => dm.wait('a', { table: true })], ['remove', () => dm.remove('a')], ['removeDevice', () => dm.removeDevice('a')],
      ['suspend', () => dm.suspend('a')], ['resume', () => dm.resume('a')], ['clear', () => dm.clear('a')], ['rename', () => dm.rename('a', { newName: 'b' })],
      ['message', () => dm.message('a', 0, 'x')], ['armPoll', () => dm.armPoll()], ['getTargetVersion', () => dm.getTargetVersion('zero')], ['removeAll', () => dm.removeAll()],
      ['createDevice', () => dm.createDevice({ name: 'c', table: [{ start: 0, length: 8, type: 'zero', params: '' }] })], ['events', () => dm.events().next()],
    ];
    const seen: string[] = [];
    for (const [name, f] of calls) {
      try { await f(); seen.push(`${name}: no error`); } catch (e) { seen.push(`${name}: ${e instanceof DmClosedError ? 'DmClosedError' : String(e)}`); }
    }
    expect(seen).toEqual(calls.map(([n]) => `${n}: DmClosedError`));
  });
});

describe('DmError and cleanupError', () => {
  test('a failed call carries its request header (name, flags) and no reply header', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const e = await dm.suspend('missing').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmError);
      const err = e as DmError;
      expect([err.code, err.request?.name, 'reply' in err]).toEqual(['ENXIO', 'missing', false]);
    } finally {
      dm.close();
    }
  });

  test('a failed rollback is the error\'s declared cleanupError', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      // The load fails (an unknown target); before it, someone opens the new device, so the rollback's remove is EBUSY.
      const stop = kernel.intercept({ before: (ev) => { if (ev.command === 'load') kernel.openDevice('r'); } });
      const e = await dm.createDevice({ name: 'r', table: [{ start: 0, length: 8, type: 'no-such-target', params: '' }], rollback: { retries: 1, delayMs: 0 } }).catch((x: unknown) => x);
      stop();
      expect(e).toBeInstanceOf(DmError);
      const err = e as DmError;
      expect(err.command).toBe('load');
      expect(err.cleanupError).toBeInstanceOf(DmError);
      expect((err.cleanupError as DmError).code).toBe('EBUSY');
      expect(Object.keys(new DmClosedError('x'))).not.toContain('cleanupError'); // declared, not an own property until set
    } finally {
      dm.close();
    }
  });
});

describe('one errno table (ERRNO_EXPLANATIONS) for DmError and dmctl', () => {
  test('DmError\'s message and dmctl\'s "try:" line come from the same row, per command', async () => {
    const rows: string[] = [];
    for (const [name, row] of Object.entries(ERRNO_EXPLANATIONS)) {
      for (const [command, ex] of Object.entries(row!)) {
        const c = (command === 'any' ? 'info' : command) as 'info';
        if (command === 'any' && row![c]) continue;
        const e = new DmError({ command: c, errno: ERRNO[name as keyof typeof ERRNO], device: { name: 'dev0' } });
        if (!e.message.includes(ex!.what.replace('{device}', ' "dev0"'))) rows.push(`${name}/${command}: message ${e.message}`);
        const shown = formatError(e, 'x');
        if (ex!.tryNext !== undefined && !shown.includes(`try: ${ex!.tryNext}`)) rows.push(`${name}/${command}: dmctl ${shown}`);
      }
    }
    expect(rows).toEqual([]);
  });

  test('dmctl prints the table\'s hint for a real failure', async () => {
    const env = cliEnv();
    try {
      const r = await env.dmctl(['suspend', 'missing-device']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`try: ${ERRNO_EXPLANATIONS.ENXIO!.any.tryNext}`);
    } finally {
      env.cleanup();
    }
  });
});

describe('wait() is the one DM_DEV_WAIT method (waitEvent folded in)', () => {
  test('status by default, the table with `table: true`; no waitEvent, no statusTable', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const info = await dm.createDevice({ name: 'w', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      const t = await dm.wait('w', { eventNr: info.eventNr + 1, table: true });
      expect(t.targets.map((x) => x.type)).toEqual(['zero']);
      expect('waitEvent' in dm).toBe(false);
      await expect(dm.wait('w', { eventNr: info.eventNr + 1, statusTable: true } as never)).rejects.toThrow(root.DmArgumentError);
    } finally {
      dm.close();
    }
  });
});

test('explainErrno reads own rows only (hostile command and code names)', () => {
  expect(root.explainErrno('constructor' as never, 'EBUSY')).toEqual(ERRNO_EXPLANATIONS.EBUSY!.any);
  expect(root.explainErrno('remove', 'constructor')).toBeUndefined();
  expect(root.explainErrno('remove', '__proto__')).toBeUndefined();
  expect(root.explainErrno('remove', 'EBUSY')).toEqual(ERRNO_EXPLANATIONS.EBUSY!.remove);
});

describe('what used to be a plain Error is a typed error of the package', () => {
  test('a non-block file where a node goes (addNode, renameNode): DmSyscallError EEXIST', async () => {
    const ops = memoryNodes();
    ops.nodes.set('/dev/mapper/x', 'other');
    const e = await root.addNode('x', { major: 254, minor: 0 }, { ops, udev: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmSyscallError);
    expect([(e as DmSyscallError).errno, (e as DmSyscallError).path]).toEqual([ERRNO.EEXIST, '/dev/mapper/x']);
    const r = await root.renameNode('y', 'x', { major: 254, minor: 0 }, { ops, udev: false }).catch((x: unknown) => x);
    expect(r).toBeInstanceOf(DmSyscallError);
  });

  test('dmctl decode of text that is not hex: DmCodecError', () => {
    expect(() => cliEntry.parseHex('zz')).toThrow(DmCodecError);
  });

  test('the simulator\'s own helpers, misused: SimError with an errno name', () => {
    const kernel = new SimulatedKernel();
    for (const f of [() => kernel.openDevice('nope'), () => kernel.closeDevice('nope'), () => kernel.triggerEvent('nope')]) {
      let e: unknown;
      try { f(); } catch (x) { e = x; }
      expect(e).toBeInstanceOf(testingEntry.SimError);
      expect(e).toBeInstanceOf(DmBaseError);
    }
  });
});
