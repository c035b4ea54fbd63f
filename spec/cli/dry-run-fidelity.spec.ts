// --dry-run says what a real run would do: each ioctl labelled as the operation it is, a table
// checked by the same code as a real create or load before anything is printed, names shown
// as the kernel gets them (escaped once).
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SimulatedKernel } from '../../testing/index.js';
import { cliEnv } from './harness.js';

let env: ReturnType<typeof cliEnv>;
beforeEach(() => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
});
afterEach(() => env.cleanup());

describe('dmctl --dry-run', () => {
  test('DM_DEV_SUSPEND is labelled resume or suspend, as the flags say', async () => {
    expect((await env.dmctl(['resume', 'x', '--dry-run'])).stdout).toMatch(/^would send DM_DEV_SUSPEND \(resume\) /);
    expect((await env.dmctl(['suspend', 'x', '--dry-run'])).stdout).toMatch(/^would send DM_DEV_SUSPEND \(suspend\) /);
    const create = (await env.dmctl(['create', 'x', '--table', '0 8 zero', '--dry-run'])).stdout.split('\n');
    expect(create[2]).toMatch(/^would send DM_DEV_SUSPEND \(resume\) /);
    // The --hex title too, and decode reads it back.
    const hex = (await env.dmctl(['resume', 'x', '--dry-run', '--hex'])).stdout;
    expect(hex).toMatch(/^DM_DEV_SUSPEND \(resume\) {2}ioctl/);
    const back = await env.dmctl(['decode', '-'], { stdin: hex });
    expect(back.code).toBe(0);
  });

  test('a table a real create refuses before any ioctl is refused by the dry run the same way', async () => {
    for (const table of ['0 8 lineer /dev/loop0 0', '0 8 linear', '0 8 striped 2 8 /dev/loop0 0']) {
      const real = await env.dmctl(['create', 'x', '--table', table]);
      const dry = await env.dmctl(['create', 'x', '--table', table, '--dry-run']);
      expect(real.code).toBe(1);
      expect(dry.code).toBe(1);
      expect(dry.stdout).toBe('');
      expect(dry.stderr).toBe(real.stderr);
      // Refused before anything reached the kernel.
      expect(env.kernel.devices.size).toBe(0);
      const load = await env.dmctl(['load', 'x', '--table', table, '--dry-run']);
      expect(load.code).toBe(1);
      expect(load.stdout).toBe('');
    }
    expect((await env.dmctl(['create', 'x', '--table', '0 8 lineer /dev/loop0 0', '--dry-run'])).stderr).toMatch(/did you mean "linear"/);
    // A type the package has no typed unit for is left to the kernel, dry or not.
    expect((await env.dmctl(['create', 'x', '--table', '0 8 dust /dev/loop0 0 512', '--dry-run'])).code).toBe(0);
  });

  test('a mangled name is printed once escaped, as the kernel gets it', async () => {
    const out = (await env.dmctl(['create', 'x/y', '--table', '0 8 zero', '--dry-run'])).stdout;
    expect(out).toContain('name="x\\x2fy"');
    expect(out).not.toContain('\\\\');
  });
});

describe('dmctl -v, -vv, -vvv', () => {
  test('-v adds no ioctl lines; -vv prints dmsetup\'s "dm <task> …" line per ioctl on stdout; -vvv adds its timestamps', async () => {
    const plain = await env.dmctl(['create', 'z', '--table', '0 2048 zero', '-v']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toMatch(/^dm /m);
    expect(plain.stdout).toContain('Name:              z\n');
    const vv = await env.dmctl(['info', 'z', '-vv']);
    expect(vv.code).toBe(0);
    // dmsetup 1.02.185 -vv info z printed: "dm info z  [ opencount flush ]   [16384] (*1)" (docs/debugging.md).
    expect(vv.stdout).toMatch(/^dm info z {2}\[ opencount flush \] {3}\[\d+\] \(\*1\)$/m);
    expect(vv.stdout).toContain('Name:              z\n');
    expect(vv.stderr).toBe('');
    const vvv = await env.dmctl(['resume', 'z', '-vvv']);
    const lines = vvv.stdout.split('\n');
    expect(lines[0]).toBe('Timestamp:       0.000000000 seconds');
    const at = lines.findIndex((l) => l.startsWith('dm resume z  [ opencount flush ]   ['));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^Timestamp: {7}\d\.\d{9} seconds$/);
    const msg = await env.dmctl(['message', 'z', '0', 'hello', '-vv']);
    expect(msg.stdout + msg.stderr).toMatch(/^dm message z {2}\[ opencount flush \] {2}hello \[\d+\] \(\*1\)$/m);
    const gone = await env.dmctl(['remove', 'nosuch', '-vv']);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toMatch(/^dm (info|remove) nosuch {2}\[ opencount flush \] {3}\[\d+\] \(\*1\)$/m);
    // With --json, stdout stays one document: the lines go to stderr.
    const j = await env.dmctl(['info', 'z', '-vv', '--json']);
    expect(() => JSON.parse(j.stdout)).not.toThrow();
    expect(j.stderr).toMatch(/^dm info z {2}\[ opencount flush \]/m);
  });
});
