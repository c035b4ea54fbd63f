// u64 values end to end: a device of 2^60 sectors prints exactly as text and as JSON (the
// schemas carry sectors as decimal strings), and setgeometry sends a start above 2^53
// exactly instead of refusing it (the kernel then applies its own rule: start ≤ C·H·S).
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SimulatedKernel } from '../../testing/index.js';
import { DeviceMapper, DmError } from '../../lib/index.js';
import { DmctlSchemas, TargetLineSchema, U64StringSchema } from '../../cli/index.js';
import { cliEnv } from './harness.js';

const BIG = 2n ** 60n;
const U64_MAX = 2n ** 64n - 1n;

let env: ReturnType<typeof cliEnv>;
beforeEach(() => { env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] })); });
afterEach(() => env.cleanup());

const ok = async (...argv: string[]) => {
  const r = await env.dmctl(argv);
  if (r.code !== 0) throw new Error(`dmctl ${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

describe('a 2^60-sector device', () => {
  beforeEach(async () => {
    await ok('create', 'big', '--table', `0 ${BIG} zero\n${BIG} ${BIG - 1n} error`);
  });

  test('table and status print the exact sectors as text', async () => {
    expect(await ok('table', 'big')).toBe(`0 ${BIG} zero \n${BIG} ${BIG - 1n} error \n`);
    expect(await ok('status', 'big')).toBe(`0 ${BIG} zero \n${BIG} ${BIG - 1n} error \n`);
  });

  test('table/status --json: exact decimal strings, valid against the exported schemas', async () => {
    for (const verb of ['table', 'status'] as const) {
      const text = await ok(verb, 'big', '--json');
      const doc = DmctlSchemas[verb].parse(JSON.parse(text));
      expect(doc.devices[0]!.targets).toEqual([
        { start: '0', length: BIG.toString(), type: 'zero', params: '' },
        { start: BIG.toString(), length: (BIG - 1n).toString(), type: 'error', params: '' },
      ]);
      expect(BigInt(doc.devices[0]!.targets[1]!.length)).toBe(BIG - 1n);
    }
  });

  test('wait --json carries the same exact sectors', async () => {
    // Event number 0 now: waiting for "differs from 1" returns at once.
    const doc = DmctlSchemas.wait.parse(JSON.parse(await ok('wait', 'big', '1', '--json')));
    expect(doc.targets.map((t) => [t.start, t.length])).toEqual([['0', BIG.toString()], [BIG.toString(), (BIG - 1n).toString()]]);
  });
});

test('the u64 schema: every u64 as a canonical decimal string, nothing else', () => {
  for (const ok of ['0', '1', '9007199254740993', U64_MAX.toString()]) expect(U64StringSchema.parse(ok)).toBe(ok);
  for (const bad of [(U64_MAX + 1n).toString(), '-1', '01', '1.5', '1e3', '', ' 1', 'x', 1, 2 ** 53]) {
    expect(U64StringSchema.safeParse(bad).success).toBe(false);
  }
  expect(TargetLineSchema.safeParse({ start: 0, length: 8, type: 'zero', params: '' }).success).toBe(false);
});

describe('setgeometry with a start above 2^53', () => {
  const start = BIG + 1n;

  test('dmctl sends the start exactly (dry run shows the request)', async () => {
    await ok('create', 'g', '--table', '0 8 zero');
    const plan = JSON.parse(await ok('setgeometry', 'g', '1', '16', '63', start.toString(), '--dry-run', '--json')) as { requests: { hex: string }[] };
    expect(Buffer.from(plan.requests[0]!.hex, 'hex').toString('latin1')).toContain(`1 16 63 ${start}\0`);
  });

  test('dmctl reaches the kernel, which applies its own limit (start ≤ C·H·S): EINVAL with its log line', async () => {
    await ok('create', 'g', '--table', '0 8 zero');
    const r = await env.dmctl(['setgeometry', 'g', '65535', '255', '255', start.toString()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('EINVAL');
    expect(r.stderr).toContain('Start sector is beyond the geometry limits.');
    expect(r.stderr).not.toMatch(/Invalid start|below 2\^64/);
    expect(env.kernel.calls.get('setGeometry')).toBe(1);
    await ok('setgeometry', 'g', '65535', '255', '255', (65535n * 255n * 255n).toString());
    expect(env.kernel.devices.get('g')?.geometry).toBe(`65535 255 255 ${65535n * 255n * 255n}`);
  });

  test('dmctl refuses a start above 2^64 - 1 before any ioctl', async () => {
    await ok('create', 'g', '--table', '0 8 zero');
    const r = await env.dmctl(['setgeometry', 'g', '1', '16', '63', (U64_MAX + 1n).toString()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Invalid start/);
    expect(env.kernel.calls.get('setGeometry')).toBeUndefined();
  });

  test('the client: a bigint start is sent exactly and the kernel decides', async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    await dm.createDevice({ name: 'g', table: [{ start: 0, length: BIG, type: 'zero', params: '' }] });
    const err = await dm.setGeometry('g', { cylinders: 1, heads: 16, sectorsPerTrack: 63, startSectors: start }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmError);
    expect((err as DmError).code).toBe('EINVAL');
    // The kernel's line names no device, so it is kept as unattributed (docs/kernel-facts.md).
    expect((err as DmError).unattributedKernelLog.join('\n')).toContain('Start sector is beyond the geometry limits.');
    await dm.setGeometry('g', { cylinders: 1, heads: 16, sectorsPerTrack: 63, startSectors: 1008n });
    expect(kernel.devices.get('g')?.geometry).toBe('1 16 63 1008');
    dm.close();
  });
});

test('other numeric dmctl arguments refuse what a number cannot hold exactly', async () => {
  for (const argv of [['wait', 'x', '9007199254740993'], ['create', 'x', '-j', '1', '-m', '99999999999999999999', '--notable']]) {
    const r = await env.dmctl(argv);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/below 2\^53/);
  }
  expect((await env.dmctl(['message', 'x', (U64_MAX + 1n).toString(), 'hi'])).stderr).toMatch(/Invalid sector/);
});
