// A command line dmctl cannot parse gets three lines (the problem, the general form, where
// to look), not the whole usage; exit 1 like every other usage error (dmsetup's status).
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { cliEnv } from './harness.js';

let env: ReturnType<typeof cliEnv>;
beforeEach(() => { env = cliEnv(); });
afterEach(() => env.cleanup());

const GENERAL = "Try 'dmctl help' for the commands, or 'dmctl help <command>' for one.";

describe('short usage on unknown options and commands', () => {
  test.each([
    [['ls', '--bogus'], "unknown option '--bogus'", "Try 'dmctl help ls' for its options, or 'dmctl help' for every command."],
    [['--bogus', 'info'], "unknown option '--bogus'", "Try 'dmctl help info' for its options, or 'dmctl help' for every command."],
    [['-Z'], "unknown option '-Z'", GENERAL],
    [['create', 'x', '--table'], "option '--table <value>' argument missing", "Try 'dmctl help create' for its options, or 'dmctl help' for every command."],
    [['frob'], 'unknown command "frob"', GENERAL],
    [['help', 'frob'], 'unknown command "frob"', GENERAL],
    [['frob', '--bogus'], "unknown option '--bogus'", GENERAL],
  ])('dmctl %j: three lines on stderr, exit 1', async (argv, problem, tryLine) => {
    const r = await env.dmctl(argv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`dmctl: ${problem}\nUsage: dmctl <command> [options]\n${tryLine}\n`);
  });

  test('the full usage stays where it is asked for: dmctl help, dmctl --help, and dmctl alone (on stderr, exit 1)', async () => {
    for (const argv of [['help'], ['--help']]) {
      const r = await env.dmctl(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: dmctl <command> \[options\][\s\S]*\nCommands:\n[\s\S]*  decode /);
      expect(r.stdout).toMatch(/-V\|--version/);
    }
    const bare = await env.dmctl([]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/\nCommands:\n/);
  });
});
