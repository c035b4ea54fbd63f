// thin_ls and thin_delta (thin-provisioning-tools 0.9.0, on the host) as the oracle of
// `dmctl thin ls` and `dmctl thin delta`: random pools written as thin_dump XML, turned into
// metadata files by thin_restore, read by the tools; dmctl reads the same files through the
// library's reader (and the same pools through the in-memory double, which keeps the tools'
// own logic checked apart from the reader's) and must print the same bytes and exit alike.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openThinMetadataFile, runThinLs, THIN_LS_FIELDS, type ThinMetadataOpener } from '../../cli/thin-ls.js';
import { runThinDelta } from '../../cli/thin-delta.js';
import { memoryMetadata, poolXml, randomPool, type Pool } from './memory-metadata.js';
import { addMetadataSnap } from '../thin-metadata/fixtures.js';
import { runDmctl } from '../../cli/index.js';

const probe = spawnSync('thin_ls', ['-V'], { encoding: 'utf8' });
const hasTools = probe.error === undefined && probe.stdout.trim() === '0.9.0' && spawnSync('thin_restore', ['-V']).status === 0;
const maybe = hasTools ? describe : describe.skip;
if (!hasTools) test.skip('thin-provisioning-tools 0.9.0 (thin_ls, thin_delta, thin_restore) is not installed on this host: the oracle is skipped', () => {});

interface Ran { status: number; stdout: string; stderr: string }

function tool(cmd: string, args: string[]): Ran {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function dmctl(run: typeof runThinLs, args: string[], open: ThinMetadataOpener): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const status = await run(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, open);
  return { status, stdout, stderr };
}

/** The pool as a metadata file thin_restore made, and an opener of the same pool in memory. */
function restore(dir: string, pool: Pool, name: string): { file: string; double: ThinMetadataOpener } {
  const xml = join(dir, `${name}.xml`);
  const file = join(dir, `${name}.bin`);
  writeFileSync(xml, poolXml(pool));
  writeFileSync(file, Buffer.alloc(8 << 20));
  const r = spawnSync('thin_restore', ['-i', xml, '-o', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`thin_restore failed: ${r.stderr}`);
  return {
    file,
    double: async (path) => {
      if (!existsSync(path)) throw Object.assign(new Error(`no ${path}`), { code: 'ENOENT' });
      return memoryMetadata(pool);
    },
  };
}

const SEEDS = Array.from({ length: 12 }, (_, i) => 1000 + i * 7);

maybe('dmctl thin ls / thin delta against thin-provisioning-tools 0.9.0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'thin-tools-oracle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(SEEDS)('pool seed %i: thin_ls with every field, the default fields and --no-headers', async (seed) => {
    const pool = randomPool(seed);
    const { file, double } = restore(dir, pool, `ls-${seed}`);
    for (const args of [[file], ['-o', THIN_LS_FIELDS.join(','), file], ['--no-headers', '-o', 'DEV,SHARED,EXCLUSIVE_BYTES,MAPPED_SECTORS', file], ['--format=SNAP_TIME,DEV,', file]]) {
      const want = tool('thin_ls', args);
      expect(want.status).toBe(0);
      expect(await dmctl(runThinLs, args, openThinMetadataFile)).toEqual(want);
      expect(await dmctl(runThinLs, args, double)).toEqual(want);
    }
  });

  test.each(SEEDS)('pool seed %i: thin_delta between every pair of devices, with and without --verbose', async (seed) => {
    const pool = randomPool(seed);
    const { file, double } = restore(dir, pool, `delta-${seed}`);
    const ids = pool.devices.map((d) => d.details.thinId);
    let compared = 0;
    for (const a of ids) {
      for (const b of ids) {
        for (const verbose of [[], ['--verbose']]) {
          const args = [...verbose, '--snap1', String(a), '--thin2', String(b), file];
          const want = tool('thin_delta', args);
          expect(want.status).toBe(0);
          expect(await dmctl(runThinDelta, args, openThinMetadataFile)).toEqual(want);
          expect(await dmctl(runThinDelta, args, double)).toEqual(want);
          compared++;
        }
      }
    }
    expect(compared).toBe(ids.length * ids.length * 2);
  });

  test('errors, usage and exit statuses alike', async () => {
    const pool = randomPool(42);
    const { file, double } = restore(dir, pool, 'errors');
    const missing = Math.max(...pool.devices.map((d) => d.details.thinId)) + 1;
    const cases: [typeof runThinLs, string, string[]][] = [
      [runThinLs, 'thin_ls', []], [runThinLs, 'thin_ls', ['-o', 'DEV,FOO', file]], [runThinLs, 'thin_ls', ['-o', '', file]],
      [runThinLs, 'thin_ls', ['-m', file]], [runThinLs, 'thin_ls', ['--help']], [runThinLs, 'thin_ls', ['-V']], [runThinLs, 'thin_ls', ['--bogus', file]],
      [runThinLs, 'thin_ls', ['-x', file]], [runThinLs, 'thin_ls', ['--no-h', '-o', 'DEV', file]], [runThinLs, 'thin_ls', [file, '-o']],
      [runThinDelta, 'thin_delta', [file]], [runThinDelta, 'thin_delta', ['--snap1', '0', file]], [runThinDelta, 'thin_delta', ['--snap1', 'x', '--snap2', '1', file]],
      [runThinDelta, 'thin_delta', ['--snap1', String(missing), '--snap2', '0', file]], [runThinDelta, 'thin_delta', ['--snap1', String(pool.devices[0]!.details.thinId), '--snap2', String(missing), file]],
      [runThinDelta, 'thin_delta', ['-m', '--snap1', '0', '--snap2', '0', file]], [runThinDelta, 'thin_delta', ['--snap1', '0', '--snap2', '0']],
      [runThinDelta, 'thin_delta', ['--help']], [runThinLs, 'thin_ls', [join(dir, 'absent.bin')]], [runThinDelta, 'thin_delta', ['--verbose=1', file]], [runThinDelta, 'thin_delta', ['--snap', '1', file]],
    ];
    for (const [run, name, args] of cases) {
      const want = tool(name, args);
      expect({ args, ...(await dmctl(run, args, openThinMetadataFile)) }).toEqual({ args, ...want });
      expect({ args, ...(await dmctl(run, args, double)) }).toEqual({ args, ...want });
    }
  });

  test('a held metadata snapshot (-m, -m=block): the snapshot superblock\'s view, as the tools print it', async () => {
    const pool = randomPool(77);
    const { file } = restore(dir, pool, 'snap');
    const snapped = join(dir, 'snapped.bin');
    copyFileSync(file, snapped);
    const at = addMetadataSnap(snapped, 1500n);
    const a = String(pool.devices[0]!.details.thinId);
    const b = String(pool.devices[pool.devices.length - 1]!.details.thinId);
    const cases: [typeof runThinLs, string, string[]][] = [
      [runThinLs, 'thin_ls', ['-m', '-o', THIN_LS_FIELDS.join(','), snapped]],
      [runThinDelta, 'thin_delta', ['-m', '--snap1', a, '--snap2', b, snapped]],
      [runThinDelta, 'thin_delta', [`--metadata-snap=${at}`, '--verbose', '--snap1', a, '--snap2', b, snapped]],
      [runThinDelta, 'thin_delta', [`--metadata-snap=${at + 1n}`, '--snap1', a, '--snap2', b, snapped]],
      [runThinDelta, 'thin_delta', ['--snap1', a, '--snap2', b, snapped]],
    ];
    for (const [run, name, args] of cases) {
      const want = tool(name, args);
      expect({ args, ...(await dmctl(run, args, openThinMetadataFile)) }).toEqual({ args, ...want });
    }
  });

  test('through dmctl\'s own dispatch: dmctl thin ls / thin delta', async () => {
    const pool = randomPool(78);
    const { file } = restore(dir, pool, 'dispatch');
    const a = String(pool.devices[0]!.details.thinId);
    for (const [name, args] of [['thin_ls', ['-o', 'DEV,EXCLUSIVE_BLOCKS,SHARED', file]], ['thin_delta', ['--snap1', a, '--snap2', a, file]]] as const) {
      let stdout = '';
      let stderr = '';
      const status = await runDmctl(['thin', name.slice(5), ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
      expect({ status, stdout, stderr }).toEqual(tool(name, [...args]));
    }
  });
});
