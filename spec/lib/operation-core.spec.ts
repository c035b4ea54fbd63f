// The operation core (lib/operations/operation.ts) on its own: stop signals, bounded steps
// with late results undone, the undo journal, progress, options checked first, and errors
// that keep the caller's frames. The operations built on it are tested through their own
// APIs (createDevice, the trees, ThinPool, FaultyDevice) on the simulator and live.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper, DmAbortError, DmClosedError, DmIdentityError, DmOperationError } from '../../lib/index.js';
import { operationHost } from '../../lib/client/client.js';
import { runOperation, withCallerStack, type OperationHost, type OperationProgress } from '../../lib/operations/operation.js';
import { identityOf } from '../../lib/operations/identity.js';
import { SimulatedKernel } from '../../testing/index.js';

function fakeHost(): OperationHost & { inFlight: number; close(): void } {
  const closing = new AbortController();
  const host = {
    inFlight: 0,
    begin() { if (closing.signal.aborted) throw new DmClosedError('the device-mapper client'); host.inFlight++; },
    end() { host.inFlight--; },
    closing: closing.signal,
    kernel: { info: () => Promise.reject(new Error('unused')), resume: () => Promise.reject(new Error('unused')), clear: () => Promise.reject(new Error('unused')) },
    close() { closing.abort(); },
  };
  return host;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const never = () => new Promise<never>(() => {});

describe('runOperation', () => {
  test('a body that succeeds returns its value; nothing of the journal runs; the host counts it out', async () => {
    const host = fakeHost();
    const undone: string[] = [];
    const v = await runOperation(host, 'op', {}, async (op) => {
      expect(host.inFlight).toBe(1);
      op.undo('a', async () => { undone.push('a'); });
      return 42;
    });
    expect(v).toBe(42);
    expect(undone).toEqual([]);
    expect(host.inFlight).toBe(0);
  });

  test('a failing body runs the journal last-in first-out, every entry even after one fails; the first failure is cleanupError', async () => {
    const host = fakeHost();
    const undone: string[] = [];
    const boom = new DmOperationError('WRONG_TARGET', 'boom');
    const undoFailure = new Error('undo b failed');
    const e = await runOperation(host, 'op', {}, async (op) => {
      op.undo('a', async () => { undone.push('a'); });
      op.undo('b', async () => { undone.push('b'); throw undoFailure; });
      op.undo('c', async () => { undone.push('c'); });
      throw boom;
    }).catch((x: unknown) => x);
    expect(e).toBe(boom);
    expect(undone).toEqual(['c', 'b', 'a']);
    expect(boom.cleanupError).toBe(undoFailure);
    expect(host.inFlight).toBe(0);
  });

  test('commit() forgets what was recorded: a later failure undoes only what came after', async () => {
    const host = fakeHost();
    const undone: string[] = [];
    await expect(runOperation(host, 'op', {}, async (op) => {
      op.undo('before', async () => { undone.push('before'); });
      op.commit();
      op.undo('after', async () => { undone.push('after'); });
      throw new Error('x');
    })).rejects.toThrow('x');
    expect(undone).toEqual(['after']);
  });

  test('timeoutMs: a step that hangs is given up with TIMEOUT, its late result goes to onLate, the journal runs', async () => {
    const host = fakeHost();
    let finish!: (v: string) => void;
    const late: string[] = [];
    const undone: string[] = [];
    const e = await runOperation(host, 'slowOp', { timeoutMs: 30 }, async (op) => {
      op.undo('first', async () => { undone.push('first'); });
      return op.step('hangs', () => new Promise<string>((r) => { finish = r; }), { onLate: (v) => { late.push(v); } });
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmOperationError);
    expect((e as DmOperationError).code).toBe('TIMEOUT');
    expect((e as Error).message).toBe('slowOp did not finish within 30 ms');
    expect(undone).toEqual(['first']);
    finish('made it');
    await sleep(5);
    expect(late).toEqual(['made it']);
  });

  test('a step that finishes in time never reaches onLate', async () => {
    const host = fakeHost();
    const late: number[] = [];
    await runOperation(host, 'op', { timeoutMs: 1000 }, (op) => op.step('quick', async () => 1, { onLate: (v) => { late.push(v); } }));
    await sleep(5);
    expect(late).toEqual([]);
  });

  test("the caller's signal stops it between steps and during one, with DmAbortError carrying the reason", async () => {
    const host = fakeHost();
    const ac = new AbortController();
    const p = runOperation(host, 'op', { signal: ac.signal }, async (op) => {
      await op.step('one', async () => 1);
      return op.step('two', () => sleep(40).then(() => 2));
    });
    setTimeout(() => ac.abort('stop now'), 5);
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmAbortError);
    expect((e as DmAbortError).code).toBe('ABORT_ERR');
    // Still counted in flight while the step it gave up on is in the kernel (close() waits for its undo).
    expect(host.inFlight).toBe(1);
    const pre = await runOperation(host, 'op', { signal: ac.signal }, async () => 1).catch((x: unknown) => x);
    expect(pre).toBeInstanceOf(DmAbortError);
    await sleep(60);
    expect(host.inFlight).toBe(0);
  });

  test('close() of the client stops it with DmClosedError at the next checkpoint; the undo journal still runs', async () => {
    const host = fakeHost();
    const undone: string[] = [];
    const p = runOperation(host, 'op', {}, async (op) => {
      op.undo('u', async () => { undone.push('u'); });
      await sleep(10);
      op.checkpoint();
      return 'not reached';
    });
    host.close();
    await expect(p).rejects.toBeInstanceOf(DmClosedError);
    expect(undone).toEqual(['u']);
    await expect(runOperation(host, 'op', {}, async () => 1)).rejects.toBeInstanceOf(DmClosedError);
  });

  test('retryOnBusy is stopped by the operation signal during its sleep (a timeout is TIMEOUT, not ABORT_ERR)', async () => {
    const host = fakeHost();
    const { DmError } = await import('../../lib/index.js');
    const busy = () => Promise.reject(new DmError({ command: 'remove', errno: 16 }));
    const started = Date.now();
    const e = await runOperation(host, 'op', { timeoutMs: 40, retries: 100, delayMs: 1000 }, (op) => op.retryOnBusy(busy)).catch((x: unknown) => x);
    expect((e as DmOperationError).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(900);
  });

  test('progress reaches onProgress; a throwing callback cannot break the operation', async () => {
    const host = fakeHost();
    const seen: OperationProgress[] = [];
    await runOperation(host, 'bulk', { onProgress: (p) => { seen.push(p); throw new Error('ignored'); } }, async (op) => {
      op.progress('a', 1, 2);
      op.progress('b', 2, 2);
    });
    expect(seen).toEqual([{ operation: 'bulk', step: 'a', done: 1, total: 2 }, { operation: 'bulk', step: 'b', done: 2, total: 2 }]);
  });

  test.each([
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ timeoutMs: 1.5 }, /timeoutMs/],
    [{ timeoutMs: 3_600_001 }, /timeoutMs/],
    [{ signal: {} as AbortSignal }, /signal/],
    [{ onProgress: 'x' as unknown as () => void }, /onProgress/],
  ])('bad options %j are INVALID_INPUT before the body runs', async (options, re) => {
    const host = fakeHost();
    let ran = false;
    const e = await runOperation(host, 'op', options, async () => { ran = true; }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmOperationError);
    expect((e as DmOperationError).code).toBe('INVALID_INPUT');
    expect((e as Error).message).toMatch(re);
    expect(ran).toBe(false);
    expect(host.inFlight).toBe(0);
  });

  test("an error made by a timer carries the caller's frames", async () => {
    const host = fakeHost();
    async function callerWithAName(): Promise<unknown> {
      return runOperation(host, 'op', { timeoutMs: 10 }, (op) => op.step('hang', never)).catch((x: unknown) => x);
    }
    const e = (await callerWithAName()) as Error;
    expect(e).toBeInstanceOf(DmOperationError);
    expect(e.stack).toContain('callerWithAName');
    // and one thrown from a bare timer callback (no async frames at all)
    async function anotherCaller(): Promise<unknown> {
      return runOperation(host, 'op', {}, () => new Promise((_, reject) => setTimeout(() => reject(new Error('from a timer')), 1))).catch((x: unknown) => x);
    }
    const t = (await anotherCaller()) as Error;
    expect(t.stack).toContain('anotherCaller');
  });

  test('withCallerStack leaves an error that already passes through the caller as it is', () => {
    const site = new Error();
    const e = new Error('x');
    const before = e.stack;
    Error.captureStackTrace(site);
    const same = new Error('y');
    same.stack = `${same.stack}\n${site.stack!.split('\n')[1]}`;
    const kept = same.stack;
    expect(withCallerStack(same, site).stack).toBe(kept);
    expect(withCallerStack(e, site).stack).not.toBe(before);
  });

  test("op.check is the one identity rule: another device's reply is DmIdentityError", async () => {
    const host = fakeHost();
    const ours = identityOf({ name: 'a', uuid: 'U-1', dev: { major: 253, minor: 0 } });
    const e = await runOperation(host, 'op', {}, async (op) => {
      op.check('info', ours, { name: 'a', uuid: 'U-1', dev: { major: 253, minor: 0 } });
      op.check('load', ours, { name: 'a', uuid: 'U-2', dev: { major: 253, minor: 1 } });
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DmIdentityError);
  });
});

describe("the client's operation host", () => {
  test('close() waits for an operation in flight and its undo, and the undo calls still reach the kernel after close()', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'held', uuid: 'OPCORE-held', table: [{ start: 0n, length: 8n, type: 'zero', params: '' }] });
    await dm.suspend({ uuid: 'OPCORE-held' });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const host = dm[operationHost]();
    const p = runOperation(host, 'op', {}, async (op) => {
      op.undo('resume', () => op.kernel.resume({ uuid: 'OPCORE-held' }));
      await gate;
      op.checkpoint();
    });
    let disposed = false;
    const disposal = dm[Symbol.asyncDispose]().then(() => { disposed = true; });
    await sleep(5);
    expect(disposed).toBe(false); // waits for the operation
    release();
    await expect(p).rejects.toBeInstanceOf(DmClosedError);
    await disposal;
    const check = await DeviceMapper.open({ backend: kernel.backend() });
    const after = await check.info({ uuid: 'OPCORE-held' });
    expect(after.exists && after.flags.suspended).toBe(false); // the undo resumed it after close()
    expect(after.exists).toBe(true);
    await check.removeDevice({ uuid: 'OPCORE-held' });
    check.close();
  });
});

describe('close() and steps', () => {
  test('close() during a step lets the step finish, then stops at the next checkpoint with DmClosedError; the undo sees what the step did', async () => {
    const host = fakeHost();
    const undone: string[] = [];
    let finish!: (v: string) => void;
    const p = runOperation(host, 'op', {}, async (op) => {
      const made = await op.step('make', () => new Promise<string>((r) => { finish = r; }));
      op.undo('unmake', async () => { undone.push(made); });
      op.checkpoint();
      return 'not reached';
    });
    await sleep(1);
    host.close();
    await sleep(5);
    finish('thing');
    await expect(p).rejects.toBeInstanceOf(DmClosedError);
    expect(undone).toEqual(['thing']);
  });
});
