import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { SimulatedKernel } from '../../testing/index.js';
import { cliEnv } from './harness.js';
let env: ReturnType<typeof cliEnv>;
beforeEach(() => { env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] })); env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072); });
afterEach(() => env.cleanup());
test('repro', async () => {
  for (const argv of [
    ['create', 'bad2', '--table', '0 8 linear /dev/sdz 0'],
    ['resume', 'x', '--dry-run'],
    ['create', 'x', '--table', '0 8 lineer /dev/loop0 0', '--dry-run'],
    ['create', 'x', '--table', '0 8 linear', '--dry-run'],
    ['create', 'x/y', '--table', '0 8 zero', '--dry-run'],
    ['info', 'x/y', '--dry-run'],
  ]) { const r = await env.dmctl(argv); console.log(argv.join(' '), r.code, JSON.stringify(r.stdout), JSON.stringify(r.stderr)); }
});
