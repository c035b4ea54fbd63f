// Every JSON document dmctl prints (each verb's --json, --dry-run --json, decode, and the
// error document on stderr) carries a top-level schemaVersion = DMCTL_JSON_VERSION.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SimulatedKernel } from '../../testing/index.js';
import { codec, requestCode } from '../../codec/index.js';
import { DMCTL_JSON_VERSION, DmctlSchemas, VERBS } from '../../cli/index.js';
import { cliEnv } from './harness.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeVeritySuperblock } from '../../lib/index.js';

/** `dmctl verity dump` reads a host file (veritysetup's verbs take paths): a superblock written for it. */
const verityImage = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'schema-verity-')), 'hash.img');
fs.writeFileSync(verityImage, encodeVeritySuperblock({ hashType: 1, uuid: new Uint8Array(16), hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 8n, salt: new Uint8Array(0) }));

let env: ReturnType<typeof cliEnv>;
beforeEach(async () => {
  env = cliEnv(new SimulatedKernel({ version: [4, 48, 0] }));
  env.kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
  env.kernel.registerTarget({ name: 'echo', version: [1, 0, 0], construct: () => ({ table: '', status: () => 'ok', deps: [], message: (argv: string[]) => argv.join(' ') }) });
  for (const [name, table] of [['a', '0 8 zero'], ['b', '0 8 echo'], ['c', '0 8 linear 7:0 0']]) {
    expect((await env.dmctl(['create', name!, '--table', table!])).code).toBe(0);
  }
});
afterEach(() => env.cleanup());

/** A command line per verb that prints a JSON document with --json (run on the devices above). */
const JSON_VERBS: Record<string, string[]> = {
  version: ['version'],
  targets: ['targets'],
  ls: ['ls'],
  info: ['info', 'a'],
  create: ['create', 'n', '--table', '0 8 zero'],
  remove: ['remove', 'a'],
  remove_all: ['remove_all'],
  suspend: ['suspend', 'a'],
  resume: ['resume', 'a'],
  load: ['load', 'a', '--table', '0 16 zero'],
  reload: ['reload', 'a', '--table', '0 16 zero'],
  clear: ['clear', 'a'],
  rename: ['rename', 'a', 'a2'],
  table: ['table', 'a'],
  status: ['status', 'a'],
  deps: ['deps', 'c'],
  message: ['message', 'b', '0', 'hi'],
  wait: ['wait', 'a', '1'], // event 0 differs from 1: returns at once
  setgeometry: ['setgeometry', 'a', '1', '2', '3', '4'],
  mknodes: ['mknodes'],
  recover: ['recover'],
  decode: ['decode', 'ls', '__LIST_REPLY__'],
  wipe_table: ['wipe_table', 'a'],
  measure: ['measure', 'a'],
  mangle: ['mangle', 'a'],
  'target-version': ['target-version', 'linear'],
  splitname: ['splitname', 'vg-lv'],
  stats: ['stats', 'list', 'a'],
  verity: ['verity', 'dump', verityImage],
};
/** Verbs that print dmsetup's text whatever the options (dmsetup's udev verbs have no JSON form). */
// thin: thin-provisioning-tools' text, byte for byte (thin_dump has no JSON form).
const TEXT_ONLY = ['udevcreatecookie', 'udevreleasecookie', 'udevflags', 'udevcomplete', 'udevcomplete_all', 'udevcookies', 'thin'];

function listReplyHex(): string {
  const buf = codec.encodeRequest('listDevices', { withUuid: true });
  env.kernel.ioctl(requestCode('listDevices'), buf);
  return Buffer.from(buf.subarray(0, codec.decodeHeader(buf).data_size)).toString('hex');
}

describe('schemaVersion', () => {
  test('the table above names every verb (a new verb needs its line)', () => {
    expect([...Object.keys(JSON_VERBS), ...TEXT_ONLY].sort()).toEqual(Object.keys(VERBS).sort());
  });

  test.each(Object.entries(JSON_VERBS))('%s --json: the document starts with schemaVersion and fits its schema', async (_verb, argv) => {
    const r = await env.dmctl([...argv.map((a) => (a === '__LIST_REPLY__' ? listReplyHex() : a)), '--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(doc)[0]).toBe('schemaVersion');
    expect(doc.schemaVersion).toBe(DMCTL_JSON_VERSION);
  });

  test('--dry-run --json, decode of a --dry-run --hex dump, and the error document on stderr', async () => {
    const dry = JSON.parse((await env.dmctl(['create', 'q', '--table', '0 8 zero', '--dry-run', '--json'])).stdout);
    expect(DmctlSchemas.dryRun.parse(dry).schemaVersion).toBe(DMCTL_JSON_VERSION);
    const dump = (await env.dmctl(['create', 'q', '--table', '0 8 zero', '--dry-run', '--hex'])).stdout;
    expect(JSON.parse((await env.dmctl(['decode', '--json'], { stdin: dump })).stdout).schemaVersion).toBe(DMCTL_JSON_VERSION);
    const err = await env.dmctl(['message', 'nope', '0', 'hi', '--json']);
    expect(err.code).toBe(1);
    expect(DmctlSchemas.error.parse(JSON.parse(err.stderr)).schemaVersion).toBe(DMCTL_JSON_VERSION);
    const usage = await env.dmctl(['create', '--json']);
    expect(DmctlSchemas.error.parse(JSON.parse(usage.stderr)).schemaVersion).toBe(DMCTL_JSON_VERSION);
  });

  test('a document without schemaVersion, or with another, does not pass the schemas', () => {
    for (const schema of Object.values(DmctlSchemas)) {
      expect(schema.safeParse({}).success).toBe(false);
    }
    expect(DmctlSchemas.ls.safeParse({ devices: [] }).success).toBe(false);
    expect(DmctlSchemas.ls.safeParse({ schemaVersion: DMCTL_JSON_VERSION - 1, devices: [] }).success).toBe(false);
    expect(DmctlSchemas.ls.safeParse({ schemaVersion: DMCTL_JSON_VERSION, devices: [] }).success).toBe(true);
  });
});
