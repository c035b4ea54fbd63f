// dmctl thin dump against thin_dump 0.9.0 (the oracle) on metadata files thin_restore made:
// stdout byte for byte and the exit status, for thin_dump's options and its failures.
// Skips, saying so, where thin_restore or thin_dump is absent.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliEnv } from './harness.js';
import { addMetadataSnap, generatePool, restore, runTool, thinTool, tmpDir } from '../thin-metadata/fixtures.js';

const HAVE = thinTool('thin_restore') !== undefined && thinTool('thin_dump') !== undefined;
if (!HAVE) console.warn('spec/cli/thin-dump.spec.ts: skipped, no thin_restore/thin_dump on this machine (the oracle)');
const d = HAVE ? describe : describe.skip;

const dir = HAVE ? tmpDir() : '';
afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

d('dmctl thin dump = thin_dump 0.9.0', () => {
  const { dmctl } = cliEnv();
  const pool = HAVE ? generatePool({ seed: 11, originMappings: 3000, snapshots: 2, others: 5 }) : undefined;
  const meta = HAVE ? restore(dir, pool!.xml, 'meta.bin', 16 << 20) : '';
  const snapped = HAVE ? path.join(dir, 'snapped.bin') : '';
  if (HAVE) { fs.copyFileSync(meta, snapped); addMetadataSnap(snapped, 4000n); }
  const missing = path.join(dir, 'does-not-exist');

  const LINES: [string, () => string[]][] = [
    ['the default (xml)', () => [meta]],
    ['-f human_readable', () => ['-f', 'human_readable', meta]],
    ['--format=human_readable, operand first', () => [meta, '--format=human_readable']],
    ['--skip-mappings', () => ['--skip-mappings', meta]],
    ['--dev-id twice', () => ['--dev-id', '11', '--dev-id=1', meta]],
    ['--dev-id of no device', () => ['--dev-id', '77', meta]],
    ['a long option by prefix (--skip)', () => ['--skip', meta]],
    ['overrides of the superblock line', () => ['--transaction-id', '99', '--data-block-size', '256', '--nr-data-blocks', '5', meta]],
    ['-m on a held metadata snapshot', () => ['-m', snapped]],
    ['-m with its block', () => ['-m4000', '-f', 'human_readable', snapped]],
    ['--metadata-snap=<wrong block>', () => ['--metadata-snap=12', snapped]],
    ['-m with none held', () => ['-m', meta]],
    ['a missing file', () => [missing]],
    ['no input file', () => []],
    ['an unknown format', () => ['-f', 'yaml', meta]],
    ['an unknown option', () => ['--frobnicate', meta]],
    ['an unparsable --dev-id', () => ['--dev-id', 'x', meta]],
    ['an unparsable --transaction-id', () => ['--transaction-id', '1x', meta]],
    ['-h', () => ['-h']],
    ['-V', () => ['-V']],
  ];

  test.each(LINES)('%s', async (_, args) => {
    const theirs = runTool('thin_dump', args());
    const ours = await dmctl(['thin', 'dump', ...args()]);
    expect({ code: ours.code, stdout: ours.stdout }).toEqual({ code: theirs.status, stdout: theirs.stdout.toString('utf8') });
    // Failures go to stderr, as thin_dump's do.
    if (theirs.status !== 0) expect(ours.stderr).not.toBe('');
  }, 60_000);

  test('messages of the failures thin_dump words itself are its own', async () => {
    for (const args of [['-m', meta], [missing], [], ['-f', 'yaml', meta], ['--metadata-snap=12', snapped]]) {
      const theirs = runTool('thin_dump', args);
      const ours = await dmctl(['thin', 'dump', ...args]);
      expect(ours.stderr).toBe(theirs.stderr);
    }
  });

  test('-o writes the dump to a file; --repair of sound metadata prints what thin_dump --repair prints (damage: repair-oracle.spec.ts)', async () => {
    const out = path.join(dir, 'out.xml');
    expect((await dmctl(['thin', 'dump', '-o', out, meta])).code).toBe(0);
    expect(fs.readFileSync(out)).toEqual(runTool('thin_dump', [meta]).stdout);
    const r = await dmctl(['thin', 'dump', '--repair', meta]);
    expect(r.code).toBe(0);
    expect(Buffer.from(r.stdout)).toEqual(runTool('thin_dump', ['--repair', meta]).stdout);
  });

  test('dmctl thin without a tool, and an unknown tool', async () => {
    expect((await dmctl(['thin'])).code).toBe(1);
    const r = await dmctl(['thin', 'frob', meta]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown tool "frob"/);
  });
});
