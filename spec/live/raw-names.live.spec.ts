// Names that are not UTF-8 on a real kernel (docs/kernel-facts.md, "Names as the kernel has
// them"): made with raw bytes by the library and by dmsetup (--manglename none), listed with
// their bytes, addressed by them, printed and accepted back by dmctl, and never in the way
// of listing the other devices.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { DeviceMapper } from '../../lib/index.js';
import { run } from '../../cli/index.js';
import { describeLive, kernelLabel } from './live-env.js';

const env = { ...process.env, DM_DISABLE_UDEV: '1' };

async function dmctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, stdinIsTTY: true, nodes: false });
  return { code, stdout, stderr };
}

/** Runs a shell line with dmsetup (raw bytes cannot pass through Node's argv strings). */
function sh(line: string): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('bash', ['-c', line], { env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describeLive(`names that are not UTF-8 [kernel ${kernelLabel}]`, () => {
  const p = `rn${process.pid % 10000}`;
  const enc = new TextEncoder();
  // p + "-odd" + FF FE + "N": not UTF-8.
  const odd = Uint8Array.from([...enc.encode(`${p}-odd`), 0xff, 0xfe, 0x4e]);
  const printed = `${p}-odd\\xff\\xfeN`;
  const healthy = `${p}-healthy`;
  let dm: DeviceMapper;

  beforeAll(async () => {
    dm = await DeviceMapper.open();
    await dm.createDevice({ name: healthy, table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
  });
  afterAll(async () => {
    for (const d of await dm.list({ namePrefix: p })) await dm.remove({ name: d.nameBytes ?? d.name }).catch(() => undefined);
    dm.close();
  });

  test('the library creates, lists, addresses and removes a device by its raw bytes', async () => {
    const created = await dm.create({ name: odd, uuid: Uint8Array.from([...enc.encode(`${p}-u-`), 0xc3, 0x28]) });
    expect(hex(created.nameBytes!)).toBe(hex(odd));
    await dm.load({ name: odd }, [{ start: 0, length: 8, type: 'zero', params: '' }]);
    await dm.resume({ name: odd });
    const listed = (await dm.list({ namePrefix: p })).find((d) => d.nameBytes !== undefined)!;
    expect(hex(listed.nameBytes!)).toBe(hex(odd));
    expect(listed.uuidBytes && hex(listed.uuidBytes)).toBe(hex(Uint8Array.from([...enc.encode(`${p}-u-`), 0xc3, 0x28])));
    const st = await dm.status({ name: listed.nameBytes! });
    expect(st.targets.map((t) => t.type)).toEqual(['zero']);
    const byUuid = await dm.info({ uuid: listed.uuidBytes! });
    expect(byUuid.exists && byUuid.dev).toEqual(listed.dev);
    // dmsetup in none mode sees the very same bytes.
    const ls = sh('dmsetup ls --manglename none');
    expect(ls.code).toBe(0);
    expect(ls.stdout.includes(Buffer.from(odd))).toBe(true);
  });

  test('dmctl lists every device, prints the odd one hex-mangled and accepts that back', async () => {
    const ls = await dmctl('ls');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(`${healthy}\t(`);
    expect(ls.stdout).toContain(`${printed}\t(`);
    for (const verb of ['table', 'status']) {
      const r = await dmctl(verb);
      expect({ verb, code: r.code, stderr: r.stderr }).toEqual({ verb, code: 0, stderr: '' });
      expect(r.stdout).toContain(`${healthy}: 0 8 zero`);
      expect(r.stdout).toContain(`${printed}: 0 8 zero`);
    }
    const info = await dmctl('info', '-c', '--noheadings', '-o', 'name,mangled_name', printed);
    expect(info).toEqual({ code: 0, stdout: `${printed}:${printed}\n`, stderr: '' });
    expect((await dmctl('suspend', printed)).code).toBe(0);
    expect((await dmctl('resume', printed)).code).toBe(0);
    expect((await dmctl('remove', printed)).code).toBe(0);
    expect((await dm.list({ namePrefix: p })).map((d) => d.name)).toEqual([healthy]);
  });

  test('a device dmsetup made from raw bytes is listed with those bytes and addressed by dmctl', async () => {
    const made = sh(`dmsetup create --manglename none "$(printf '${p}-dm\\xe9')" --table "0 8 zero"`);
    expect({ code: made.code, stderr: made.stderr }).toEqual({ code: 0, stderr: '' });
    const d = (await dm.list({ namePrefix: p })).find((x) => x.nameBytes !== undefined)!;
    expect(hex(d.nameBytes!)).toBe(hex(Uint8Array.from([...enc.encode(`${p}-dm`), 0xe9])));
    const t = await dmctl('table', `${p}-dm\\xe9`);
    expect(t).toEqual({ code: 0, stdout: '0 8 zero \n', stderr: '' });
    // dmsetup (auto) refuses to list at all with such a name present; dmctl does not.
    expect(sh('dmsetup ls').code).toBe(1);
    expect(sh(`dmsetup remove --manglename none "$(printf '${p}-dm\\xe9')"`).code).toBe(0); // and its /dev/mapper node
  });
});
