// dmctl decode reads dmctl's own --dry-run --hex output back (titles, offsets, folded zero
// runs, annotations, several requests), and says in words what is missing from short input.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DmctlSchemas } from './imports.js';
import { cliEnv } from './harness.js';

let env: ReturnType<typeof cliEnv>;
beforeEach(() => { env = cliEnv(); });
afterEach(() => env.cleanup());

const ok = async (argv: string[], stdin?: string) => {
  const r = await env.dmctl(argv, stdin !== undefined ? { stdin } : {});
  if (r.code !== 0) throw new Error(`dmctl ${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

const COMMANDS: string[][] = [
  ['create', 'x', '-u', 'X-1', '--table', '0 8 zero\n8 1000 linear 7:0 2048'], // three requests: create, load, resume
  ['load', 'x', '--table', '0 8 crypt aes-xts-plain64 0123456789abcdef0123456789abcdef 0 7:0 0'],
  ['message', 'pool', '0', 'create_thin 1'],
  ['message', 'pool', '0', 'ab  0010  ff\n"q" DM_DEV_REMOVE (remove)  ioctl 0x1  data_size 312  (312 bytes shown)'], // annotation text that looks like a dump
  ['rename', 'x', 'y'],
  ['rename', 'x', '--setuuid', 'U-2'],
  ['setgeometry', 'x', '1', '2', '3', '4'],
  ['suspend', '--noflush', 'x'],
  ['table', '-j', '254', '-m', '3'],
  ['ls'],
  ['remove', 'x', 'y'],
];

describe('decode reads --dry-run --hex back', () => {
  test.each(COMMANDS.map((c) => [c.join(' ').replace(/\n/g, '\\n'), c]))('dmctl %s: from stdin and as an argument, the same document as --dry-run --json', async (_name, argv) => {
    const dump = await ok([...argv, '--dry-run', '--hex']);
    const expected = DmctlSchemas.dryRun.parse(JSON.parse(await ok([...argv, '--dry-run', '--json'])));
    expect(expected.requests.length).toBeGreaterThan(0);
    for (const decodeArgv of [['decode'], ['decode', '-']]) {
      expect(DmctlSchemas.dryRun.parse(JSON.parse(await ok(decodeArgv, dump)))).toEqual(expected);
    }
    expect(DmctlSchemas.dryRun.parse(JSON.parse(await ok(['decode', dump])))).toEqual(expected);
    if (expected.requests.length === 1) {
      expect(DmctlSchemas.dryRun.parse(JSON.parse(await ok(['decode', expected.requests[0]!.command, dump])))).toEqual(expected);
    }
    expect(env.kernel.calls.size).toBe(0);
  });

  test('a dump as pasted from elsewhere: CRLF line ends, tabs between the columns, blank lines around it', async () => {
    const argv = ['load', 'x', '--table', '0 8 zero\n8 8 error'];
    const expected = DmctlSchemas.dryRun.parse(JSON.parse(await ok([...argv, '--dry-run', '--json'])));
    const dump = await ok([...argv, '--dry-run', '--hex']);
    const pasted = `\n\n${dump.split('\n').map((l) => l.replace(/^( +[0-9a-f]{4}) {2}/, '$1\t')).join('\r\n')}\r\n`;
    expect(pasted).toContain('\t');
    expect(DmctlSchemas.dryRun.parse(JSON.parse(await ok(['decode'], pasted)))).toEqual(expected);
  });

  test('the fields come from the bytes, not the annotations: a changed byte shows in the decoded fields', async () => {
    const dump = await ok(['load', 'x', '--table', '0 8 zero', '--dry-run', '--hex']);
    // "zero" → "zerp" in the bytes, the annotation left saying "zero".
    const edited = dump.replace(/(7a 65 72) 6f( 00)/, '$1 70$2');
    expect(edited).not.toBe(dump);
    const j = DmctlSchemas.dryRun.parse(JSON.parse(await ok(['decode'], edited)));
    expect(j.requests[0]!.fields.find((f) => f.field === 'spec[0].target_type')?.value).toBe('"zerp"');
  });

  test('a dump cut short, altered or mixed with other text is refused, naming the line', async () => {
    const dump = await ok(['rename', 'x', 'y', '--dry-run', '--hex']);
    const lines = dump.split('\n');
    const cut = lines.filter((l) => !/^ {2}0010 /.test(l)).join('\n');
    expect((await env.dmctl(['decode'], { stdin: cut })).stderr).toMatch(/^dmctl decode: line 1 of the --dry-run --hex dump: the request's bytes from offset 0x10 are missing/);
    const junk = `${lines[0]}\nhello\n${lines.slice(1).join('\n')}`;
    expect((await env.dmctl(['decode'], { stdin: junk })).stderr).toMatch(/line 2 of the --dry-run --hex dump: not part of a dump: "hello"/);
    const size = dump.replace('data_size 314', 'data_size 315');
    expect(size).not.toBe(dump);
    expect((await env.dmctl(['decode'], { stdin: size })).stderr).toMatch(/title says data_size 315, its dm_ioctl.data_size bytes say 314/);
    // Hostile numbers: nothing is allocated from a title or a zero run alone.
    const huge = dump.replace('data_size 314  (314 bytes shown)', 'data_size 1073741824  (1073741824 bytes shown)');
    expect((await env.dmctl(['decode'], { stdin: huge })).stderr).toMatch(/line 1 of the --dry-run --hex dump: the request's bytes from offset 0x13a are missing \(its title says 1073741824 bytes/);
    const tooBig = dump.replace('data_size 314  (314 bytes shown)', 'data_size 1073741825  (400 bytes shown)');
    expect((await env.dmctl(['decode'], { stdin: tooBig })).stderr).toMatch(/400 bytes shown does not fit a request of data_size 1073741825/);
    const run = dump.replace('… 127 zero bytes', '… 999999999999 zero bytes');
    expect((await env.dmctl(['decode'], { stdin: run })).stderr).toMatch(/a folded run of 999999999999 zero bytes: dmctl folds no field that long/);
    const other = await env.dmctl(['decode', 'ls'], { stdin: dump });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/the dump holds DM_DEV_RENAME \(rename\), not only listDevices/);
  });
});

describe('decode says what is missing', () => {
  test('no bytes at all (argument or stdin)', async () => {
    for (const [argv, stdin] of [[['decode', 'ls', ''], undefined], [['decode', 'ls', '-'], ''], [['decode', 'ls'], '  \n']] as const) {
      const r = await env.dmctl([...argv], stdin !== undefined ? { stdin } : {});
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^dmctl decode: no hex bytes found in input/);
      expect(r.stderr).not.toMatch(/got 0/);
    }
  });

  test('no bytes and stdin is a terminal: usage, not a hang', async () => {
    const r = await env.dmctl(['decode', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/decode needs the bytes/);
  });

  test.each([
    [8, 'it ends inside dm_ioctl.version (offset 0, 12 bytes)'],
    [40, 'it ends before dm_ioctl.dev (offset 40)'],
    [60, 'it ends inside dm_ioctl.name (offset 48, 128 bytes)'],
    [311, 'it ends inside dm_ioctl.data'],
  ])('a header cut at %i bytes: how many it needs, how many there are, and the field it stops in', async (n, where) => {
    const r = await env.dmctl(['decode', 'info', '00'.repeat(n), '--json']);
    expect(r.code).toBe(1);
    const e = DmctlSchemas.error.parse(JSON.parse(r.stderr)).error;
    expect(e.code).toBe('MALFORMED_REPLY');
    expect(e.message).toContain(`the dm_ioctl header needs 312 bytes; the input has ${n}: ${where}`);
  });

  test('a reply shorter than its own data_size: says so (strace cuts at -s)', async () => {
    const header = new Uint8Array(312);
    new DataView(header.buffer).setUint32(0, 4, true);
    new DataView(header.buffer).setUint32(12, 16384, true);
    new DataView(header.buffer).setUint32(16, 312, true);
    const r = await env.dmctl(['decode', 'ls', Buffer.from(header).toString('hex')]);
    expect(r.stderr).toMatch(/data_size says the buffer has 16384 bytes; the input has 312 \(strace cuts strings at -s: use -s 65536\)/);
  });

  test('odd digits and plain hex without a command are told apart', async () => {
    expect((await env.dmctl(['decode', 'ls', 'abc'])).stderr).toMatch(/an odd number of hex digits \(3\)/);
    expect((await env.dmctl(['decode', '-'], { stdin: '0400' })).stderr).toMatch(/decode needs <command> for a reply in plain hex/);
  });
});
