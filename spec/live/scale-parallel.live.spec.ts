// removeMany / createMany at scale on the real kernel: 1,000 devices created in parallel and
// removed in parallel, nothing of ours left, and a device of another owner (made by dmsetup,
// another uuid prefix) untouched. Prints the wall times beside a sequential removal of a few
// devices by the same client, so the overlap of the kernel's grace periods is visible. And
// suspendTree, resumeTree and removeTree of stacks (8 × 3 levels and a diamond) one device at a
// time and in parallel, nothing left, the other owner's device untouched, the times printed.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { DeviceMapper, DeviceTree, removeTree, resumeTree, suspendTree, type DeviceInfo } from '../../lib/index.js';
import { describeLiveOn, kernelLabel, recordLiveFact } from './live-env.js';

const N = Number(process.env.DM_SCALE_PARALLEL ?? 1000);
const SEQUENTIAL = 50;
/** Stacks of three (top on mid on base) of the removeTree test. */
const STACKS = Number(process.env.DM_TREE_STACKS ?? 8);

describeLiveOn(['6.1'], `removeMany / createMany of ${N} devices [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  const prefix = `dmts-par-${process.pid}`;
  const other = `dmts-other-${process.pid}`;
  const otherUuid = `OTHEROWNER-${process.pid}`;
  const table = [{ start: 0, length: 8, type: 'zero', params: '' }];
  const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    execFileSync('dmsetup', ['create', other, '--uuid', otherUuid, '--table', '0 16 zero']);
  });

  afterAll(async () => {
    const left = dm.listSync({ namePrefix: prefix }).filter((d) => d.name.startsWith(prefix));
    if (left.length) await dm.removeMany(left.map((d) => d.name), { retries: 3 });
    try { execFileSync('dmsetup', ['remove', other]); } catch { /* already gone: the test says so */ }
    dm.close();
  });

  test(`${N} created in parallel and removed in parallel: nothing left, the other owner's device untouched`, async () => {
    const before = execFileSync('dmsetup', ['info', '-c', '--noheadings', '-o', 'name,uuid,major,minor,attr,open,segments,events', other], { encoding: 'utf8' }).trim();
    const specs = Array.from({ length: N }, (_, i) => ({ name: `${prefix}-${i}`, uuid: `DMTSPAR-${process.pid}-${i}`, table }));

    // A sequential baseline on a few devices, by the same client (removeDevice one after another).
    for (let i = 0; i < SEQUENTIAL; i++) await dm.createDevice({ name: `${prefix}-seq-${i}`, table });
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < SEQUENTIAL; i++) await dm.removeDevice(`${prefix}-seq-${i}`);
    const seqRemoveMs = ms(t0);

    t0 = process.hrtime.bigint();
    const created = await dm.createMany(specs);
    const createMs = ms(t0);
    const failedCreates = created.filter((r) => !r.ok);
    expect(failedCreates).toEqual([]);
    expect(created.map((r) => (r.ok ? r.value.name : ''))).toEqual(specs.map((s) => s.name));
    expect(dm.listSync({ namePrefix: prefix }).filter((d) => d.name.startsWith(prefix))).toHaveLength(N);
    for (const r of await dm.infoMany(specs.map((s) => ({ uuid: s.uuid })))) {
      expect(r.ok && r.value.exists && !r.value.flags.suspended && r.value.targetCount === 1).toBe(true);
    }

    t0 = process.hrtime.bigint();
    const removed = await dm.removeMany(created.map((r) => (r as { value: DeviceInfo }).value));
    const removeMs = ms(t0);
    expect(removed.filter((r) => !r.ok)).toEqual([]);
    expect(dm.listSync({ namePrefix: prefix }).filter((d) => d.name.startsWith(prefix))).toEqual([]);

    // The other owner's device: the same name, uuid, dev, state, open count, table and event number.
    const after = execFileSync('dmsetup', ['info', '-c', '--noheadings', '-o', 'name,uuid,major,minor,attr,open,segments,events', other], { encoding: 'utf8' }).trim();
    expect(after).toBe(before);
    expect(execFileSync('dmsetup', ['table', other], { encoding: 'utf8' }).trim()).toBe('0 16 zero');

    const perSeq = seqRemoveMs / SEQUENTIAL;
    const line = `[scale-parallel ${kernelLabel}] createMany ${N}: ${createMs.toFixed(0)} ms (${(createMs / N).toFixed(2)} ms/device); `
      + `removeMany ${N}: ${removeMs.toFixed(0)} ms (${(removeMs / N).toFixed(2)} ms/device); `
      + `sequential removeDevice: ${perSeq.toFixed(2)} ms/device (×${N} ≈ ${(perSeq * N).toFixed(0)} ms, ${(perSeq * N / removeMs).toFixed(1)}× removeMany's time)`;
    process.stderr.write(`${line}\n`);
    recordLiveFact('scaleParallel', { devices: N, createMs, removeMs, sequentialRemoveMsPerDevice: perSeq });
  }, 30 * 60_000);

  /** STACKS stacks of three, each level a linear over the one below by dev (no /dev/mapper nodes needed), plus a diamond: the roots. */
  async function forest(tag: string): Promise<string[]> {
    const roots: string[] = [];
    const make = async (name: string, params: string, type = 'linear') =>
      (await dm.createDevice({ name, uuid: `DMTSTREE-${process.pid}-${name}`, table: [{ start: 0, length: 8, type, params }] })).dev;
    const on = (d: { major: number; minor: number }) => `${d.major}:${d.minor} 0`;
    for (let i = 0; i < STACKS; i++) {
      const base = await make(`${prefix}-${tag}-base${i}`, '', 'zero');
      const mid = await make(`${prefix}-${tag}-mid${i}`, on(base));
      await make(`${prefix}-${tag}-top${i}`, on(mid));
      roots.push(`${prefix}-${tag}-top${i}`);
    }
    const shared = await make(`${prefix}-${tag}-dshared`, '', 'zero');
    const a = await make(`${prefix}-${tag}-da`, on(shared));
    const b = await make(`${prefix}-${tag}-db`, on(shared));
    const top = `${prefix}-${tag}-dtop`;
    await dm.createDevice({ name: top, uuid: `DMTSTREE-${process.pid}-${top}`, table: [{ start: 0, length: 8, type: 'linear', params: on(a) }, { start: 8, length: 8, type: 'linear', params: on(b) }] });
    roots.push(top);
    return roots;
  }

  test(`suspendTree, resumeTree and removeTree of ${STACKS} stacks × 3 levels and a diamond, in parallel: nothing left, the other owner's device untouched; one at a time (concurrency 1) vs parallel`, async () => {
    const before = execFileSync('dmsetup', ['info', '-c', '--noheadings', '-o', 'name,uuid,major,minor,attr,open,segments,events', other], { encoding: 'utf8' }).trim();
    const total = STACKS * 3 + 4;
    const timed = async (tag: string, concurrency: number | undefined) => {
      const roots = await forest(tag);
      const tree = await DeviceTree.read(dm);
      const c = concurrency === undefined ? {} : { concurrency };
      let t0 = process.hrtime.bigint();
      expect((await suspendTree(dm, roots, { tree, ...c })).suspended).toHaveLength(total);
      const suspendMs = ms(t0);
      t0 = process.hrtime.bigint();
      expect((await resumeTree(dm, roots, { tree, ...c })).resumed).toHaveLength(total);
      const resumeMs = ms(t0);
      t0 = process.hrtime.bigint();
      const r = await removeTree(dm, roots, { tree, ...c });
      const removeMs = ms(t0);
      expect(r.complete).toBe(true);
      expect(r.kept).toEqual([]);
      expect(r.removed).toHaveLength(total);
      expect(dm.listSync({ namePrefix: `${prefix}-${tag}` }).filter((d) => d.name.startsWith(`${prefix}-${tag}`))).toEqual([]);
      return { suspendMs, resumeMs, removeMs };
    };
    // The lanes' engine threads start on first use (koffi loaded in each: seconds of CPU under
    // TCG); started here by a small removeMany, so neither timing pays for them.
    const warm = await dm.createMany(Array.from({ length: 32 }, (_, i) => ({ name: `${prefix}-warm-${i}`, table: [{ start: 0, length: 8, type: 'zero', params: '' }] })));
    await dm.removeMany(warm.flatMap((r) => (r.ok ? [r.value] : [])));
    const seq = await timed('tseq', 1);
    const par = await timed('tpar', undefined);
    const after = execFileSync('dmsetup', ['info', '-c', '--noheadings', '-o', 'name,uuid,major,minor,attr,open,segments,events', other], { encoding: 'utf8' }).trim();
    expect(after).toBe(before);
    const ratio = (k: keyof typeof seq) => `concurrency 1 ${seq[k].toFixed(0)} ms, default (32) ${par[k].toFixed(0)} ms (${(seq[k] / par[k]).toFixed(1)}×)`;
    const line = `[scale-parallel ${kernelLabel}] ${STACKS} stacks × 3 + diamond (${total} devices): removeTree ${ratio('removeMs')}; `
      + `suspendTree ${ratio('suspendMs')}; resumeTree ${ratio('resumeMs')}`;
    process.stderr.write(`${line}\n`);
    recordLiveFact('scaleParallelTree', { stacks: STACKS, devices: total, sequential: seq, parallel: par });
  }, 10 * 60_000);
});
