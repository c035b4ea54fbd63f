// Keys never leak, on the real kernel: crypt and integrity tables the kernel rejects (bad key
// length, key not hex, unknown cipher, bad option, missing device) through the client and
// dmctl. What dm-crypt and dm-integrity log is attached to the errors; no string the package
// produces may hold the key. The kernel's log lines are recorded as a live fact.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import { attachLoop, detachLoop, DeviceMapper, DmError } from '../../lib/index.js';
import { runDmctl } from '../../cli/index.js';
import { describeLive, kernelLabel, recordLiveFact } from './live-env.js';

const KEY = randomBytes(32).toString('hex');
const leaks = (s: string) => [KEY, KEY.toUpperCase(), KEY.slice(8, 24), Buffer.from(KEY, 'hex').toString('base64')].some((n) => s.includes(n));

describeLive(`secrets in errors [kernel ${kernelLabel}]`, () => {
  let dm: DeviceMapper;
  let dir: string;
  let loop: string;
  const prefix = `dmts-sec-${process.pid}-`;
  const logged: Record<string, string[]> = {};

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmts-secrets-'));
    const file = path.join(dir, 'l.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 8 * 1024 * 1024);
    loop = (await attachLoop(file)).path;
  });

  afterAll(async () => {
    for (const d of await dm.list({ namePrefix: prefix })) await dm.removeDevice(d.name).catch(() => undefined);
    dm.close();
    await detachLoop(loop).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    recordLiveFact('secrets: kernel log of rejected keyed tables', logged);
    console.log(`kernel log of rejected keyed tables (${kernelLabel}):\n${JSON.stringify(logged, null, 1)}`);
  });

  const lines = (): [string, string, string][] => [
    ['crypt key too short', 'crypt', `aes-xts-plain64 ${KEY.slice(0, 62)} 0 ${loop} 0`],
    ['crypt key not hex', 'crypt', `aes-cbc-essiv:sha256 zz${KEY.slice(2)} 0 ${loop} 0`],
    ['crypt unknown cipher', 'crypt', `nope-xts-plain64 ${KEY} 0 ${loop} 0`],
    ['crypt bad option', 'crypt', `aes-xts-plain64 ${KEY} 0 ${loop} 0 1 bogus_option`],
    ['crypt missing device', 'crypt', `aes-xts-plain64 ${KEY} 0 /dev/nope 0`],
    ['integrity bad hmac', 'integrity', `${loop} 0 32 J 1 internal_hash:hmac(nope):${KEY}`],
  ];

  test('client: load and createDevice errors hold no key', async () => {
    await dm.create({ name: `${prefix}c` });
    for (const [what, type, params] of lines()) {
      for (const call of [
        () => dm.load(`${prefix}c`, [{ start: 0, length: 8, type, params }]),
        () => dm.createDevice({ name: `${prefix}n`, table: [{ start: 0, length: 8, type, params: Buffer.from(params) }] }),
      ]) {
        let err: unknown;
        try { await call(); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(DmError);
        const e = err as DmError;
        logged[what] = [...e.kernelLog];
        for (const s of [e.message, e.stack ?? '', util.inspect(e, { depth: Infinity }), JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))]) expect(leaks(s)).toBe(false);
      }
    }
  });

  test('dmctl create/load: stderr (text and --json) holds no key; the table reads back masked', async () => {
    for (const [, type, params] of lines()) {
      for (const argv of [['create', `${prefix}d`, '--table', `0 8 ${type} ${params}`], ['load', `${prefix}c`, '--table', `0 8 ${type} ${params}`, '--json']]) {
        let out = '';
        const code = await runDmctl(argv, { stdout: (t) => { out += t; }, stderr: (t) => { out += t; } });
        expect(code).toBe(1);
        expect(leaks(out)).toBe(false);
      }
    }
    let out = '';
    const io = { stdout: (t: string) => { out += t; }, stderr: (t: string) => { out += t; } };
    expect(await runDmctl(['create', `${prefix}ok`, '--table', `0 8 crypt aes-xts-plain64 ${KEY} 0 ${loop} 0`], io)).toBe(0);
    expect(await runDmctl(['table', `${prefix}ok`], io)).toBe(0);
    expect(out).toContain(`aes-xts-plain64 ${'0'.repeat(64)} 0`);
    expect(leaks(out)).toBe(false);
    expect(await runDmctl(['remove', `${prefix}ok`], io)).toBe(0);
  });
});
