// The dmctl guide (docs/dmctl.md, linked from README) shows real output: the `--dry-run --hex`
// dump (its "…" lines elide), and the outputs the quick-reference block states in its comments.
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SimulatedKernel } from '../../testing/index.js';
import { cliEnv } from './harness.js';

const section = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'dmctl.md'), 'utf8');

/** Splits a shell command line on blanks, honouring "…" quotes (enough for the guide's lines). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

let env: ReturnType<typeof cliEnv>;
beforeEach(() => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
});
afterEach(() => env.cleanup());

test('the --dry-run --hex example is what dmctl prints (its lines in order; "…" elides)', async () => {
  const block = /```\n\$ npx dmctl (load [^\n]*--dry-run --hex)\n([\s\S]*?)```/.exec(section);
  expect(block).not.toBeNull();
  const r = await env.dmctl(words(block![1]!));
  expect(r.code).toBe(0);
  const actual = r.stdout.split('\n');
  let at = 0;
  for (const line of block![2]!.split('\n').filter((l) => l !== '' && l.trim() !== '…')) {
    const found = actual.indexOf(line, at);
    expect({ line, found: found >= 0 }).toEqual({ line, found: true });
    at = found + 1;
  }
});

test('the quick-reference block: each "# output" comment that is output is what the command prints', async () => {
  const block = /```sh\n(npx dmctl create lin[\s\S]*?)```/.exec(section)![1]!;
  const stated = new Map<string, string>();
  for (const line of block.split('\n')) {
    const m = /^npx dmctl (.*?)\s+# (.*)$/.exec(line);
    if (!m) continue;
    const r = await env.dmctl(words(m[1]!));
    expect({ cmd: m[1], code: r.code, stderr: r.stderr }).toEqual({ cmd: m[1], code: 0, stderr: '' });
    stated.set(m[1]!, r.stdout);
    if (m[1] === 'ls' || m[1] === 'table lin') expect(r.stdout.trimEnd()).toBe(m[2]!.replace(/\t|\\t/g, '\t'));
    if (m[1] === 'status --json lin') expect(JSON.stringify(JSON.parse(r.stdout))).toBe(m[2]);
    if (m[1] === '--version') {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
      expect(r.stdout).toBe(`${m[2]!.replace('<version>', pkg.version).replace(' / ', '\n')}\n`);
    }
  }
  expect([...stated.keys()]).toEqual(expect.arrayContaining(['ls', 'table lin', 'status --json lin', '--version']));
});
