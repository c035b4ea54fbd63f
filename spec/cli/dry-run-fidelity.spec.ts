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
