// dmctl's start-up: a `dmctl thin …` process loads the thin tools and the metadata reader, not
// the client, zod, the target catalogue or koffi (bin/dmctl.js imports the dispatcher, and each
// verb's modules are imported when it runs). Checked on the module the bin script imports,
// with every module it must not load replaced by a recorder, and on the verbs that do need
// them, so the recorders are known to fire. Nothing here times anything.
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generatePool, restore, thinTool } from '../thin-metadata/fixtures.js';

const ROOT = path.join(__dirname, '..', '..');

/** The source module bin/dmctl.js imports (`../dist/cli/x.js` → `cli/x.ts`), as this spec's specifier. */
function binEntry(): string {
  const bin = fs.readFileSync(path.join(ROOT, 'bin', 'dmctl.js'), 'utf8');
  const m = /from\s+'\.\.\/dist\/(cli\/[\w/-]+)\.js'/.exec(bin.replace(/^\s*\/\/.*$/gm, ''));
  if (!m) throw new Error('bin/dmctl.js imports no ../dist/cli/… module');
  return `../../${m[1]}.js`;
}

/** What a thin verb has no use for: the package root (the whole library), the client, zod, the targets, the --json schemas, koffi. */
const HEAVY = ['../../lib/index.js', '../../lib/client/client.js', '../../lib/targets/index.js', '../../cli/context.js', '../../cli/schemas.js', 'zod', 'koffi'];

/**
 * Runs one dmctl command line in a fresh module registry in which each HEAVY module records
 * that it was loaded (and is then the real one); resolves to the exit status, the output and
 * what was loaded.
 */
async function runRecording(argv: string[]): Promise<{ rc: number; out: string; loaded: string[] }> {
  const loaded = new Set<string>();
  let rc = -1;
  let out = '';
  await jest.isolateModulesAsync(async () => {
    for (const m of HEAVY) {
      jest.doMock(m, () => {
        loaded.add(m);
        return jest.requireActual(m);
      });
    }
    const entry = (await import(binEntry())) as { run(argv: readonly string[], io: object): Promise<number> };
    rc = await entry.run(argv, { stdout: (t: string) => { out += t; }, stderr: (t: string) => { out += t; } });
  });
  for (const m of HEAVY) jest.dontMock(m);
  return { rc, out, loaded: [...loaded].sort() };
}

describe('dmctl start-up loads only the verb\'s modules', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmctl-startup-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const zeros = path.join(dir, 'zeros.bin');
  fs.writeFileSync(zeros, Buffer.alloc(64 << 10));

  test.each([
    ['thin ls --help', ['thin', 'ls', '--help'], 0, /^Usage: thin_ls/],
    ['thin delta --help', ['thin', 'delta', '--help'], 0, /^Usage: thin_delta/],
    ['thin dump --help', ['thin', 'dump', '--help'], 0, /^Usage: thin_dump/],
    ['thin --help', ['thin', '--help'], 0, /^Usage: dmctl thin/],
    // A file read to the end of its checks: the superblock's checksum fails, the reader ran.
    ['thin ls of a zeroed file', ['thin', 'ls', zeros], 1, /checksum|superblock/i],
    ['thin delta of a zeroed file', ['thin', 'delta', '--snap1', '1', '--snap2', '2', zeros], 1, /checksum|superblock/i],
    ['help', ['help'], 0, /^Usage: dmctl <command>/],
    ['an unknown command', ['frobnicate'], 1, /unknown command "frobnicate"/],
  ] as const)('%s loads none of the client, zod, the targets, the schemas or koffi', async (_, argv, status, output) => {
    const r = await runRecording([...argv]);
    expect(r.out).toMatch(output);
    expect(r.rc).toBe(status);
    expect(r.loaded).toEqual([]);
  });

  const HAVE_RESTORE = thinTool('thin_restore') !== undefined;
  if (!HAVE_RESTORE) console.warn('spec/cli/startup.spec.ts: the restored-pool case skipped, no thin_restore on this machine');
  (HAVE_RESTORE ? test : test.skip)('thin ls and thin delta of a real pool load none of them either', async () => {
    const pool = generatePool({ seed: 5, originMappings: 200, snapshots: 1, others: 1 });
    const meta = restore(dir, pool.xml, 'meta.bin', 4 << 20);
    const ls = await runRecording(['thin', 'ls', meta]);
    expect(ls.rc).toBe(0);
    expect(ls.out).toMatch(/^\s*DEV /);
    expect(ls.loaded).toEqual([]);
    const delta = await runRecording(['thin', 'delta', '--snap1', String(pool.devices[0]!.id), '--snap2', String(pool.devices[1]!.id), meta]);
    expect(delta.out).toMatch(/<diff left=/);
    expect(delta.rc).toBe(0);
    expect(delta.loaded).toEqual([]);
  });

  // The recorders fire: a verb over devices loads the client and the schemas (so an empty list above is a real finding).
  test('a verb over devices does load them (the check can fail)', async () => {
    const r = await runRecording(['ls', '--dry-run']);
    expect(r.loaded).toEqual(expect.arrayContaining(['../../cli/context.js', '../../cli/schemas.js', '../../lib/index.js', 'zod']));
  });
});
