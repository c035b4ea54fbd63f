// `dmctl thin dump --repair` against `thin_dump --repair` (thin-provisioning-tools 0.9, the
// oracle) on damaged metadata with an intact superblock: a byte of one btree node flipped
// (a leaf or an internal node of a device's mappings, the top-level mapping tree, the
// device-details tree), in every node of a pool and at random offsets, in both formats.
// The same stdout byte for byte and the same exit status; and without --repair the same
// files fail with a typed error (the repair is what leaves the damage out). Skips, saying
// so, where thin_restore or thin_dump is absent.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runThinDump } from '../../cli/thin-dump.js';
import { generatePool, restore, thinTool, tmpDir } from './fixtures.js';

const HAVE = thinTool('thin_restore') !== undefined && thinTool('thin_dump') !== undefined;
if (!HAVE) console.warn('spec/thin-metadata/repair-oracle.spec.ts: skipped, no thin_restore/thin_dump on this machine (the oracle)');
const d = HAVE ? describe : describe.skip;
const dir = HAVE ? tmpDir() : '';
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

const BLOCK = 4096;

/** The nodes of a metadata file's mapping trees (value size 8) and details tree (24): block, internal or leaf, value size. */
function btreeNodes(bytes: Buffer): { block: number; leaf: boolean; valueSize: number }[] {
  const out = [];
  for (let b = 1; b < bytes.length / BLOCK; b++) {
    const o = b * BLOCK;
    const flags = bytes.readUInt32LE(o + 4);
    const blocknr = bytes.readBigUInt64LE(o + 8);
    const nr = bytes.readUInt32LE(o + 16);
    const valueSize = bytes.readUInt32LE(o + 24);
    if (blocknr !== BigInt(b) || (flags !== 1 && flags !== 2) || nr === 0) continue;
    // An internal node's values are 8-byte child pointers, whichever tree it is in; the space
    // maps' reference-count tree (4-byte values) is not what a dump walks.
    if (valueSize !== 8 && valueSize !== 24) continue;
    out.push({ block: b, leaf: flags === 2, valueSize });
  }
  return out;
}

async function dmctl(args: string[]): Promise<{ status: number; stdout: string }> {
  let stdout = '';
  const status = await runThinDump(args, { stdout: (t) => { stdout += t; }, stderr: () => {} });
  return { status, stdout };
}

function tool(args: string[]): { status: number; stdout: string } {
  const r = spawnSync(thinTool('thin_dump')!, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout };
}

d('thin_dump --repair against thin_dump 0.9', () => {
  // An origin and two snapshots (multi-level mapping trees) and 40 other devices. The details
  // and top-level mapping trees stay one leaf each (at most 126 devices): where they have more,
  // thin_dump 0.9's damage tracker can leave out a neighbouring leaf's devices too, which this
  // reader does not copy (docs/thin-metadata.md, "--repair").
  const clean = HAVE ? restore(dir, generatePool({ seed: 21, originMappings: 3000, snapshots: 2, others: 40, maxRun: 3 }).xml, 'clean.bin', 16 << 20) : '';
  const bytes = HAVE ? fs.readFileSync(clean) : Buffer.alloc(0);
  const nodes = btreeNodes(bytes);

  function damaged(block: number, offset: number, name: string): string {
    const b = Buffer.from(bytes);
    b[block * BLOCK + offset]! ^= 0xff;
    const f = path.join(dir, name);
    fs.writeFileSync(f, b);
    return f;
  }

  test('the pool has every kind of node the cases damage', () => {
    expect(nodes.filter((n) => !n.leaf).length).toBeGreaterThan(1);
    expect(nodes.filter((n) => n.leaf && n.valueSize === 8).length).toBeGreaterThan(20);
    expect(nodes.filter((n) => n.valueSize === 24).length).toBe(1);
  });

  // Every internal node and details leaf, and every third leaf of the mappings (each a
  // thin_dump process and two dumps of ours: all of them would cost npm test ~35 s).
  const sample = nodes.filter((n, i) => !n.leaf || n.valueSize === 24 || i % 3 === 0);

  test('a byte flipped in each sampled btree node in turn: the same stdout and exit status, both formats', async () => {
    let compared = 0;
    let unreached = 0;
    const cleanDump = (await dmctl([clean])).stdout;
    for (const n of sample) {
      const f = damaged(n.block, 64 + (n.block * 37) % (BLOCK - 64), `node-${n.block}.bin`);
      for (const format of ['xml', 'human_readable']) {
        const ours = await dmctl(['--repair', '-f', format, f]);
        const theirs = tool(['--repair', '-f', format, f]);
        expect({ block: n.block, format, status: ours.status, stdout: ours.stdout }).toEqual({ block: n.block, format, status: theirs.status, stdout: theirs.stdout });
        compared++;
      }
      // Without --repair the damage is an error (exit 1), as thin_dump's — unless the node is
      // one no tree reaches (thin_restore leaves shadowed copies behind): then nothing changed.
      const plain = await dmctl([f]);
      if (plain.status === 0) {
        expect(plain.stdout).toBe(cleanDump);
        unreached++;
      } else {
        expect(plain.status).toBe(1);
      }
      fs.rmSync(f);
    }
    expect(compared).toBe(sample.length * 2);
    expect(sample.length).toBeGreaterThan(15);
    expect(unreached).toBeLessThan(sample.length / 2); // most cases damaged a node the dump reads
  }, 300_000);

  test('a byte flipped at random offsets of random nodes (seeded): the same stdout and exit status', async () => {
    let seed = 99;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
    for (let i = 0; i < 20; i++) {
      const n = nodes[Math.floor(rnd() * nodes.length)]!;
      const f = damaged(n.block, Math.floor(rnd() * BLOCK), `rand-${i}.bin`);
      const ours = await dmctl(['--repair', f]);
      const theirs = tool(['--repair', f]);
      expect({ i, block: n.block, status: ours.status, stdout: ours.stdout }).toEqual({ i, block: n.block, status: theirs.status, stdout: theirs.stdout });
      fs.rmSync(f);
    }
  }, 300_000);

  test('--repair of undamaged metadata prints what a plain dump prints', async () => {
    expect(await dmctl(['--repair', clean])).toEqual(tool([clean]));
  });

  test('a damaged superblock: exit 1 as thin_dump (which would need the overrides and a search for roots), and says why; a missing file does not', async () => {
    const f = damaged(0, 300, 'sb.bin');
    expect((await dmctl(['--repair', f])).status).toBe(tool(['--repair', f]).status);
    expect((await dmctl(['--repair', f])).stdout).toBe('');
    const errors = async (args: string[]) => { let e = ''; await runThinDump(args, { stdout: () => {}, stderr: (t) => { e += t; } }); return e; };
    expect(await errors(['--repair', f])).toMatch(/--repair needs an intact superblock/);
    expect(await errors(['--repair', path.join(dir, 'missing.bin')])).toBe("Couldn't stat path\n");
  });
});
