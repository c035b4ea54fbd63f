// Tracing you can switch on: every ioctl on devicemapper:ioctl (sync, async, batch, the
// DM_BUFFER_FULL retries), compound operations and their steps on the devicemapper:operation
// and devicemapper:step tracing channels, NODE_DEBUG=devicemapper printing one line each —
// and nothing read or built while no one subscribes. Formats: docs/debugging.md.
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { subscribe, unsubscribe, tracingChannel } from 'node:diagnostics_channel';
import * as path from 'node:path';
import { codec } from '../../codec/index.js';
import {
  DeviceMapper, IOCTL_CHANNEL, OPERATION_CHANNEL, STEP_CHANNEL, type IoctlTraceMessage, type OperationTraceContext, type StepTraceContext,
} from '../../lib/index.js';
import { formatIoctl, installDebugLog, type DebugLogger } from '../../lib/trace/debug-log.js';
import { SimulatedKernel } from '../../testing/index.js';

const offs: (() => void)[] = [];
afterEach(() => { while (offs.length) offs.pop()!(); });

function collectIoctls(): IoctlTraceMessage[] {
  const seen: IoctlTraceMessage[] = [];
  const on = (m: unknown) => { seen.push(m as IoctlTraceMessage); };
  subscribe(IOCTL_CHANNEL, on);
  offs.push(() => unsubscribe(IOCTL_CHANNEL, on));
  return seen;
}

async function open(kernel = new SimulatedKernel(), options: { blocking?: boolean; initialBufferBytes?: number } = {}) {
  const dm = await DeviceMapper.open({ backend: kernel.backend(), ...options });
  offs.push(() => dm.close());
  return { dm, kernel };
}

describe('devicemapper:ioctl', () => {
  test('one message per ioctl: command, dmsetup\'s operation name, the request\'s device and flags, sizes, path, duration, errno', async () => {
    const seen = collectIoctls();
    const { dm } = await open();
    await dm.createDevice({ name: 'x', uuid: 'U-1', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    await dm.suspend('x');
    await dm.resume({ uuid: 'U-1' });
    await expect(dm.remove('nope')).rejects.toThrow();
    const ops = seen.map((m) => m.operation);
    expect(ops).toEqual(expect.arrayContaining(['create', 'reload', 'suspend', 'resume', 'remove']));
    const create = seen.find((m) => m.command === 'create')!;
    expect(create).toMatchObject({ ioctl: 'DM_DEV_CREATE', operation: 'create', name: 'x', uuid: 'U-1', errno: 0, code: undefined, attempt: 1, path: 'single', bufferFull: false });
    expect(create.durationMs).toBeGreaterThanOrEqual(0);
    expect(create.dataSizeBytes).toBeGreaterThan(0);
    const resume = seen.filter((m) => m.operation === 'resume').pop()!;
    expect(resume).toMatchObject({ ioctl: 'DM_DEV_SUSPEND', name: '', uuid: 'U-1' });
    const failed = seen.find((m) => m.command === 'remove')!;
    expect(failed).toMatchObject({ name: 'nope', errno: 6, code: 'ENXIO' });
    // The load's message carries the header only: no params.
    expect(JSON.stringify(seen.find((m) => m.command === 'load'), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('zero');
  });

  test('sync calls, batches (the engine path\'s kind) and DM_BUFFER_FULL retries are published too', async () => {
    const seen = collectIoctls();
    const kernel = new SimulatedKernel();
    const { dm } = await open(kernel, { initialBufferBytes: 1024 });
    for (let i = 0; i < 30; i++) await dm.create({ name: `device-with-a-long-name-${i}` });
    dm.infoSync('device-with-a-long-name-1');
    expect(seen.some((m) => m.command === 'info' && m.path === 'sync')).toBe(true);
    await dm.infoMany(['device-with-a-long-name-1', 'device-with-a-long-name-2']);
    expect(seen.filter((m) => m.path === 'batch').length).toBeGreaterThanOrEqual(2);
    seen.length = 0;
    await dm.list();
    const lists = seen.filter((m) => m.command === 'listDevices');
    expect(lists.length).toBeGreaterThan(1);
    expect(lists[0]).toMatchObject({ attempt: 1, bufferFull: true, operation: 'names' });
    expect(lists[lists.length - 1]).toMatchObject({ attempt: lists.length, bufferFull: false });
    expect(lists[1]!.dataSizeBytes).toBe(2 * lists[0]!.dataSizeBytes);
  });

  test('a DM_TARGET_MSG\'s text is shown as dmsetup shows it: "key set <key>" cut to "key set"', async () => {
    const seen = collectIoctls();
    const { dm } = await open();
    await dm.create({ name: 'm' });
    await dm.message('m', 0, 'key set 00112233445566778899aabbccddeeff').catch(() => undefined);
    const m = seen.find((x) => x.command === 'message')!;
    expect(m.message).toBe('key set');
    expect(JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('0011223344');
  });

  test('nothing is read or timed without a subscriber', async () => {
    const { dm } = await open();
    await dm.create({ name: 'q' });
    const spy = jest.spyOn(codec, 'decodeHeader');
    const now = jest.spyOn(performance, 'now');
    try {
      await dm.info('q');
      dm.infoSync('q');
      expect(spy).not.toHaveBeenCalled();
      expect(now).not.toHaveBeenCalled();
      const seen = collectIoctls();
      await dm.info('q');
      expect(seen).toHaveLength(1);
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
      now.mockRestore();
    }
  });
});

describe('devicemapper:operation and devicemapper:step', () => {
  test('an operation and each of its steps: start and settle events, one id shared by its steps, errors on both', async () => {
    const events: string[] = [];
    const opHandlers = {
      start: (c: OperationTraceContext) => events.push(`op start ${c.operation}#${c.id}`),
      end: () => {}, asyncStart: () => {},
      asyncEnd: (c: OperationTraceContext) => events.push(`op end ${c.operation}#${c.id}${c.error ? ` ${(c.error as { code: string }).code}` : ''}`),
      error: () => {},
    };
    const stepHandlers = {
      start: (c: StepTraceContext) => events.push(`step ${c.operation}#${c.id} ${c.step}`),
      end: () => {}, asyncStart: () => {}, asyncEnd: () => {},
      error: (c: StepTraceContext) => events.push(`step error ${c.step} ${(c.error as { code: string }).code}`),
    };
    tracingChannel<unknown, OperationTraceContext>(OPERATION_CHANNEL).subscribe(opHandlers);
    tracingChannel<unknown, StepTraceContext>(STEP_CHANNEL).subscribe(stepHandlers);
    offs.push(() => tracingChannel(OPERATION_CHANNEL).unsubscribe(opHandlers as never), () => tracingChannel(STEP_CHANNEL).unsubscribe(stepHandlers as never));
    const { dm } = await open();
    await dm.createDevice({ name: 'o', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    const id = /#(\d+)/.exec(events[0]!)![1];
    expect(events).toEqual([
      `op start createDevice#${id}`, `step createDevice#${id} create`, `step createDevice#${id} load`, `step createDevice#${id} resume`, `op end createDevice#${id}`,
    ]);
    events.length = 0;
    await expect(dm.createDevice({ name: 'bad', table: [{ start: 0, length: 8, type: 'linear', params: '/dev/nope 0' }] })).rejects.toThrow();
    expect(events).toContain('step error load ENOENT');
    expect(events[events.length - 1]).toMatch(/^op end createDevice#\d+ ENOENT$/);
  });
});

describe('NODE_DEBUG=devicemapper', () => {
  test('one line per ioctl, per step and per operation, through the logger util.debuglog gives', async () => {
    const lines: string[] = [];
    const log = Object.assign((f: string, ...a: unknown[]) => { lines.push(f === '%s' ? String(a[0]) : f); }, { enabled: true }) as DebugLogger;
    offs.push(installDebugLog(log)!);
    expect(installDebugLog(Object.assign(() => {}, { enabled: false }) as DebugLogger)).toBeUndefined();
    const { dm } = await open();
    await dm.createDevice({ name: 'n', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
    expect(lines.filter((l) => l.startsWith('ioctl DM_DEV_CREATE (create) name="n" flags=0x'))).toHaveLength(1);
    expect(lines.some((l) => /^ioctl DM_DEV_SUSPEND \(resume\) name="n" flags=0x[0-9a-f]{8} data_size=\d+ single \d+\.\d{3}ms ok$/.test(l))).toBe(true);
    expect(lines.some((l) => /^step createDevice#\d+ "load" \d+\.\d{3}ms ok$/.test(l))).toBe(true);
    expect(lines[lines.length - 1]).toMatch(/^operation createDevice#\d+ \d+\.\d{3}ms ok$/);
    expect(formatIoctl({ command: 'remove', ioctl: 'DM_DEV_REMOVE', operation: 'remove', name: 'x', uuid: '', dev: undefined, flags: 0, eventNr: 0, targetCount: 0, dataSizeBytes: 312, attempt: 1, path: 'sync', durationMs: 0.5, errno: 6, code: 'ENXIO', bufferFull: false }))
      .toBe('ioctl DM_DEV_REMOVE (remove) name="x" flags=0x00000000 data_size=312 sync 0.500ms ENXIO');
  });

  test('in a process of its own: the environment variable alone switches it on (stderr, util.debuglog\'s prefix)', () => {
    const child = path.join(__dirname, 'tracing-child.ts');
    const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['-r', path.join(__dirname, '..', 'testing', 'ts-child.cjs'), '-e', `require(${JSON.stringify(child)})`], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env },
    });
    const on = run({ NODE_DEBUG: 'devicemapper' });
    expect(on.status).toBe(0);
    expect(on.stderr).toMatch(/^DEVICEMAPPER \d+: ioctl DM_DEV_CREATE \(create\) name="traced" flags=0x/m);
    expect(on.stderr).toMatch(/^DEVICEMAPPER \d+: step createDevice#\d+ "resume" \d+\.\d{3}ms ok$/m);
    const off = run({ NODE_DEBUG: '' });
    expect(off.status).toBe(0);
    expect(off.stderr).not.toMatch(/DEVICEMAPPER/);
  }, 120_000);
});
