// Starting the ioctl engine before its first call (the transport's startEngine, behind
// DeviceMapper.open({ engine: 'eager' })): against regular files (ioctl answers ENOTTY) with
// the real koffi in the worker, one file per test since engines are per path and process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { openControl } from '../../ffi/control.js';
import { ERRNO } from '../../ffi/errors.js';
import type { IoctlEngine } from '../../ffi/engine.js';
import type { ControlTransport, EngineStarter } from '../../ffi/types.js';

const onLinux = process.platform === 'linux' ? describe : describe.skip;
const DM_VERSION = 0xc138fd00;

function scratchNode(): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dm-engine-start-')), 'control');
  fs.writeFileSync(file, '');
  return file;
}

async function open(file: string, asyncPath?: 'auto' | 'engine' | 'pool') {
  const seen: { engine?: IoctlEngine } = {};
  const t = (await openControl(file, { asyncPath, onEngine: (e) => { seen.engine = e; } })) as ControlTransport & EngineStarter;
  return { t, engineOf: () => seen.engine };
}

async function untilReady(e: IoctlEngine): Promise<void> {
  for (let i = 0; i < 1500 && !e.ready; i++) await new Promise((r) => setTimeout(r, 10)); // hang guard: 15 s
}

onLinux('transport.startEngine (open({ engine: "eager" }))', () => {
  test("'auto': starts the engine without a call, so the first batch runs on it instead of the pool", async () => {
    const { t, engineOf } = await open(scratchNode());
    try {
      expect(t.startEngine()).toBeUndefined(); // returns at once: the worker loads koffi meanwhile
      const e = engineOf()!;
      expect(e).toBeDefined();
      expect(e.completed).toBe(0);
      await untilReady(e);
      expect(e.ready).toBe(true);
      // Lazily, this first batch call would start the engine and take the pool (completed 0).
      expect(await t.ioctlAsync(DM_VERSION, new Uint8Array(312), 'batch')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(e.completed).toBe(1);
      // Single calls and waits keep their paths.
      expect(await t.ioctlAsync(DM_VERSION, new Uint8Array(312))).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(await t.ioctlAsync(DM_VERSION, new Uint8Array(312), 'wait')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(e.completed).toBe(1);
      // Twice is once: the same engine.
      t.startEngine();
      expect(engineOf()).toBe(e);
    } finally {
      t.close();
      await engineOf()?.kill();
    }
  });

  test("'pool': starts nothing", async () => {
    const { t, engineOf } = await open(scratchNode(), 'pool');
    try {
      t.startEngine();
      expect(await t.ioctlAsync(DM_VERSION, new Uint8Array(312), 'batch')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(engineOf()).toBeUndefined();
    } finally {
      t.close();
    }
  });

  test('a closed transport starts nothing', async () => {
    const { t, engineOf } = await open(scratchNode());
    t.close();
    t.startEngine();
    expect(engineOf()).toBeUndefined();
  });

  test('an engine that cannot start (its node gone) leaves calls on the pool, as a lazy start does', async () => {
    const file = scratchNode();
    const { t, engineOf } = await open(file);
    try {
      fs.unlinkSync(file); // the engine opens the node again: that open fails
      t.startEngine();
      expect(engineOf()).toBeUndefined();
      expect(await t.ioctlAsync(DM_VERSION, new Uint8Array(312), 'batch')).toEqual({ ret: -1, errno: ERRNO.ENOTTY });
      expect(engineOf()).toBeUndefined();
    } finally {
      t.close();
    }
  });

  /** Runs engine-start-child.ts: an engine closed while its worker starts; the process must exit by itself. */
  function child(mode: 'engine' | 'transport') {
    const r = spawnSync(process.execPath, ['-r', path.join(__dirname, '../testing/ts-child.cjs'), '-e', `require(${JSON.stringify(path.join(__dirname, 'engine-start-child.ts'))})`, mode], {
      encoding: 'utf8', timeout: 30_000,
    });
    return { code: r.status, out: r.stdout ? (JSON.parse(r.stdout || '{}') as { before: number; during: number; after: number; readyAtClose: boolean }) : undefined, stderr: r.stderr };
  }

  test('an engine closed while its worker is still starting: no hang, the thread exits', () => {
    const { code, out, stderr } = child('engine');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(out!.readyAtClose).toBe(false);
    expect(out!.during).toBeGreaterThan(out!.before); // the worker was running…
    expect(out!.after).toBe(out!.before); // …and is gone
  });

  test('a transport closed while the engine it started is still starting: the process exits by itself', () => {
    const { code, out, stderr } = child('transport');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' }); // not killed by the 30 s timeout
    expect(out!.readyAtClose).toBe(false);
    expect(out!.during).toBeGreaterThan(out!.before);
  });
});
