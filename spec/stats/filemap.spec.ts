import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeviceMapper, DmFileMapError, DmStats } from '../../lib/index.js';
import { fiemap, fiemapExtent } from '../../codec/index.js';
import { SimulatedKernel, simBlockIo, type SimBlockIo, type SimFileMapInput } from '../../testing/index.js';
import { decodeFiemapReply, encodeFiemapRequest } from '../../lib/kernel/syscall-structs.js';
import { readFileExtents } from '../../lib/stats/fiemap.js';
import { cliEnv } from '../cli/harness.js';

const K = 4096n;
/** An extent of `blocks` 4 KiB blocks at file block `logical`, device block `physical`. */
const ext = (logical: bigint, physical: bigint, blocks: bigint, flags = 0) => ({ logicalBytes: logical * K, physicalBytes: physical * K, lengthBytes: blocks * K, flags });

describe('struct fiemap (codec/syscall-records.ts)', () => {
  it('has the kernel header\'s sizes and offsets', () => {
    expect(fiemap.size).toBe(32);
    expect(fiemapExtent.size).toBe(56);
    expect(fiemap.offsetOf.fm_extent_count).toBe(24);
    expect(fiemapExtent.offsetOf.fe_flags).toBe(40);
  });
  it('a 2048-byte request asks for 36 extents from fm_start to the end', () => {
    const buf = new Uint8Array(2048).fill(0xaa);
    expect(encodeFiemapRequest(buf, 4096n, 1)).toBe(36);
    const v = new DataView(buf.buffer);
    expect(v.getBigUint64(0, true)).toBe(4096n);
    expect(v.getBigUint64(8, true)).toBe((1n << 64n) - 1n);
    expect(v.getUint32(16, true)).toBe(1);
    expect(v.getUint32(24, true)).toBe(36);
    expect(buf.subarray(32).every((b) => b === 0)).toBe(true);
  });
  it('a mapped count over the buffer is reported, not read', () => {
    const buf = new Uint8Array(2048);
    encodeFiemapRequest(buf, 0n, 1);
    new DataView(buf.buffer).setUint32(20, 37, true);
    expect(decodeFiemapReply(buf)).toEqual({ overflow: 37, extentCount: 36 });
  });
});

describe('file extents on the simulator, merged as libdm merges them', () => {
  let kernel: SimulatedKernel;
  let io: SimBlockIo;
  const dev = { major: 253, minor: 0 };
  beforeEach(() => { kernel = new SimulatedKernel(); io = simBlockIo(kernel); });
  const runsOf = async (map: Omit<SimFileMapInput, 'device'>) => {
    io.mapFile('/f', { device: dev, ...map });
    const h = await io.openFileMap!('/f');
    try { return await readFileExtents(h); } finally { await h.close(); }
  };

  it('physically contiguous extents become one run; a jump starts another', async () => {
    const r = await runsOf({ extents: [ext(0n, 100n, 2n), ext(2n, 102n, 3n), ext(5n, 200n, 1n), ext(6n, 201n, 1n)] });
    expect(r.runs).toEqual([{ startSectors: 800n, lengthSectors: 40n }, { startSectors: 1600n, lengthSectors: 16n }]);
    expect(r.extents).toHaveLength(4);
    expect(r.device).toEqual(dev);
  });
  it('one extent is one run; unallocated (delalloc) extents are skipped', async () => {
    expect((await runsOf({ extents: [ext(0n, 7n, 1n)] })).runs).toEqual([{ startSectors: 56n, lengthSectors: 8n }]);
    expect((await runsOf({ extents: [ext(0n, 10n, 1n), ext(1n, 0n, 1n, 0x6), ext(2n, 50n, 1n)] })).runs)
      .toEqual([{ startSectors: 80n, lengthSectors: 8n }, { startSectors: 400n, lengthSectors: 8n }]);
  });
  it('a hole at the file\'s start: the first allocated extent still starts the first run', async () => {
    expect((await runsOf({ extents: [ext(4n, 30n, 2n), ext(6n, 90n, 1n)] })).runs)
      .toEqual([{ startSectors: 240n, lengthSectors: 16n }, { startSectors: 720n, lengthSectors: 8n }]);
  });
  it('a file of more extents than one call holds is read in several calls', async () => {
    const extents = Array.from({ length: 80 }, (_, i) => ext(BigInt(i), BigInt(1000 + 2 * i), 1n));
    const r = await runsOf({ extents });
    expect(r.runs).toHaveLength(80);
    expect(r.runs[79]).toEqual({ startSectors: (1000n + 158n) * 8n, lengthSectors: 8n });
    expect(io.fileMaps.get('/f')!.fiemapCalls).toBe(3);
  });
  it('no extents: no runs (an update deletes the regions)', async () => {
    expect((await runsOf({ extents: [] })).runs).toEqual([]);
  });
  it('hostile replies are typed errors: a count over the buffer, overlapping or empty extents, no progress', async () => {
    const overflow = runsOf({ extents: [ext(0n, 1n, 1n)], tamper: (b) => new DataView(b.buffer, b.byteOffset).setUint32(20, 1000, true) });
    await expect(overflow).rejects.toMatchObject({ name: 'DmFileMapError', code: 'BAD_FIEMAP' });
    await expect(runsOf({ extents: [ext(0n, 1n, 4n), ext(2n, 9n, 4n)] })).rejects.toMatchObject({ code: 'BAD_FIEMAP', message: expect.stringContaining('overlapping') });
    await expect(runsOf({ extents: [ext(0n, 1n, 0n)] })).rejects.toMatchObject({ code: 'BAD_FIEMAP' });
    // A filesystem that never says LAST and answers the same extent again.
    const stuck = runsOf({ extents: [ext(0n, 1n, 1n)], tamper: (b) => {
      const v = new DataView(b.buffer, b.byteOffset);
      v.setUint32(20, 1, true);
      v.setBigUint64(32, 0n, true);
      v.setBigUint64(40, 4096n, true);
      v.setBigUint64(48, 4096n, true);
      v.setUint32(32 + 40, 0, true);
    } });
    await expect(stuck).rejects.toMatchObject({ code: 'BAD_FIEMAP' });
  });
  it('btrfs and non-regular files are refused as libdm refuses them', async () => {
    await expect(runsOf({ extents: [ext(0n, 1n, 1n)], filesystemType: 0x9123683e })).rejects.toMatchObject({ code: 'NOT_MAPPABLE', message: expect.stringContaining('btrfs') });
    await expect(runsOf({ extents: [ext(0n, 1n, 1n)], regular: false })).rejects.toMatchObject({ code: 'NOT_MAPPABLE', message: 'Not a regular file' });
  });
});

describe('DmStats file maps on the simulator', () => {
  let kernel: SimulatedKernel;
  let dm: DeviceMapper;
  let io: SimBlockIo;
  let dev: { major: number; minor: number };
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    io = simBlockIo(kernel);
    dm = await DeviceMapper.open({ backend: kernel.backend() });
    dev = (await dm.createDevice({ name: 'vol', uuid: 'VOL-1', table: [{ start: 0, length: 1 << 20, type: 'zero', params: '' }] })).dev;
  });
  afterEach(async () => { await dm.close(); });
  const list = () => dm.message('vol', 0, '@stats_list');

  it('creates one region per run, grouped under the file\'s name', async () => {
    io.mapFile('/mnt/data.img', { device: dev, extents: [ext(0n, 100n, 2n), ext(2n, 102n, 3n), ext(5n, 300n, 4n)] });
    const r = await DmStats.createFromFile(dm, '/mnt/data.img');
    expect(r).toMatchObject({ regionIds: [0, 1], groupId: 0 });
    expect(r.stats.name).toBe('vol');
    expect(await list()).toBe('0: 800+40 40 dmstats DMS_GROUP=data.img:0-1#-\n1: 2400+32 32 dmstats -\n');
    const l = await r.stats.list();
    expect(l.groups).toEqual([{ groupId: 0, alias: 'data.img', members: [0, 1] }]);
  });
  it('group: false makes plain regions; alias without a group is refused first', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 1n, 1n), ext(1n, 5n, 1n)] });
    await expect(DmStats.createFromFile(dm, '/f', { group: false, alias: 'x' })).rejects.toMatchObject({ name: 'DmArgumentError' });
    expect((await DmStats.createFromFile(dm, '/f', { group: false, precise: true })).groupId).toBeUndefined();
    expect(await list()).toBe('0: 8+8 8 dmstats - precise_timestamps\n1: 40+8 8 dmstats - precise_timestamps\n');
    expect(await dm.message('vol', 0, '@stats_print 0')).toBeDefined();
  });
  it('a file on no dm device, or without extents, is refused before any region is made', async () => {
    io.mapFile('/other', { device: { major: 8, minor: 1 }, extents: [ext(0n, 1n, 1n)] });
    await expect(DmStats.createFromFile(dm, '/other')).rejects.toMatchObject({ code: 'NOT_MAPPABLE', message: 'Cannot map file: not a device-mapper device.' });
    io.mapFile('/empty', { device: dev, extents: [] });
    await expect(DmStats.createFromFile(dm, '/empty')).rejects.toBeInstanceOf(DmFileMapError);
    await expect(DmStats.createFromFile(dm, '/missing')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await list()).toBe('');
  });
  it('a region the kernel refuses takes back the regions made before it', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 1n, 1n), ext(1n, 9n, 1n)] });
    let creates = 0;
    // The second @stats_create fails as a kernel out of memory would fail it.
    const stop = kernel.intercept({ fault: (e) => (e.command === 'message' && ++creates === 2 ? { errno: 12 } : undefined) });
    await expect(DmStats.createFromFile(dm, '/f')).rejects.toMatchObject({ code: 'ENOMEM' });
    stop();
    expect(await list()).toBe('');
  });
  it('update after an append keeps the regions and the group id, and adds the new run', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n), ext(1n, 20n, 1n)] });
    await DmStats.createFromFile(dm, '/f');
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n), ext(1n, 20n, 1n), ext(2n, 40n, 2n)] });
    const u = await DmStats.updateFromFile(dm, '/f', 0);
    expect(u).toMatchObject({ regionIds: [0, 1, 2], groupId: 0 });
    expect(await list()).toBe('0: 80+8 8 dmstats DMS_GROUP=f:0-2#-\n1: 160+8 8 dmstats -\n2: 320+16 16 dmstats -\n');
  });
  it('a run that grew in place is a new region; the leader\'s loss regroups under the lowest id', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n), ext(1n, 20n, 1n)] });
    await DmStats.createFromFile(dm, '/f', { alias: 'mine' });
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 2n), ext(2n, 20n, 1n)] });
    const u = await DmStats.updateFromFile(dm, '/f', 0);
    // Region 0 (80+8) is gone; 0 is free again and taken by the new 80+16.
    expect(u).toMatchObject({ regionIds: [0, 1], groupId: 0 });
    expect(await list()).toBe('0: 80+16 16 dmstats DMS_GROUP=mine:0-1#-\n1: 160+8 8 dmstats -\n');
  });
  it('a truncated file loses every region and the group', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n), ext(1n, 20n, 1n)] });
    await DmStats.createFromFile(dm, '/f');
    io.mapFile('/f', { device: dev, extents: [] });
    expect(await DmStats.updateFromFile(dm, '/f', 0)).toMatchObject({ regionIds: [], groupId: undefined });
    expect(await list()).toBe('');
  });
  it('an unknown group is an error', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n)] });
    await expect(DmStats.updateFromFile(dm, '/f', 3)).rejects.toMatchObject({ message: 'Group ID 3 does not exist.' });
  });
  it('followFile updates when the allocation changes and ends when the group is removed', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n)] });
    const { stats } = await DmStats.createFromFile(dm, '/f');
    const updates: (readonly number[])[] = [];
    let messages = 0;
    const stop = kernel.intercept({ before: (e) => { if (e.command === 'message') messages++; } });
    const following = DmStats.followFile(dm, '/f', 0, { intervalMs: 5, onUpdate: (u) => updates.push(u.regionIds) });
    // Its second @stats_list comes after it read the allocation it compares with.
    while (messages < 2) await new Promise((r) => setTimeout(r, 5));
    stop();
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n), ext(1n, 30n, 1n)] });
    for (let i = 0; i < 2000 && updates.length === 0; i++) await new Promise((r) => setTimeout(r, 5)); // up to 10 s on a loaded machine
    expect(updates).toEqual([[0, 1]]);
    await stats.deleteGroup(0);
    await expect(following).resolves.toEqual({ reason: 'group-removed', groupId: 0 });
  });
  it('followFile ends with its signal or its timeout', async () => {
    io.mapFile('/f', { device: dev, extents: [ext(0n, 10n, 1n)] });
    await DmStats.createFromFile(dm, '/f');
    const ac = new AbortController();
    const f = DmStats.followFile(dm, '/f', 0, { intervalMs: 5, signal: ac.signal });
    setTimeout(() => ac.abort(), 15);
    await expect(f).rejects.toMatchObject({ code: 'ABORT_ERR' });
    await expect(DmStats.followFile(dm, '/f', 0, { intervalMs: 5, timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});

describe('dmctl stats create --filemap and update_filemap (dmstats output)', () => {
  let kernel: SimulatedKernel;
  let env: ReturnType<typeof cliEnv>;
  let setup: DeviceMapper;
  let dev: { major: number; minor: number };
  const dmctl = (...args: string[]) => env.dmctl(args);
  beforeEach(async () => {
    kernel = new SimulatedKernel();
    env = cliEnv(kernel);
    setup = await DeviceMapper.open({ backend: kernel.backend() });
    dev = (await setup.createDevice({ name: 'fs', table: [{ start: 0, length: 1 << 20, type: 'zero', params: '' }] })).dev;
    simBlockIo(kernel).mapFile('/mnt/frag', { device: dev, extents: [ext(0n, 100n, 1n), ext(1n, 200n, 1n), ext(2n, 300n, 1n)] });
  });
  afterEach(async () => { await setup.close(); env.cleanup(); });

  it('create --filemap groups the regions under the file\'s name', async () => {
    expect(await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nomonitor')).toEqual({ code: 0, stdout: '/mnt/frag: Created new group with 3 region(s) as group ID 0.\n', stderr: '' });
    expect(await setup.message('fs', 0, '@stats_list')).toBe('0: 800+8 8 dmstats DMS_GROUP=frag:0-2#-\n1: 1600+8 8 dmstats -\n2: 2400+8 8 dmstats -\n');
  });
  it('--nogroup prints one line per region; --alias names the group', async () => {
    // dmstats' quirk: --nogroup turns monitoring off, and asking for it then fails silently.
    expect(await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nogroup')).toEqual({ code: 1, stdout: '', stderr: '' });
    expect((await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nogroup', '--nomonitor')).stdout)
      .toBe('/mnt/frag: Created new region with 1 area as region ID 0.\n/mnt/frag: Created new region with 1 area as region ID 1.\n/mnt/frag: Created new region with 1 area as region ID 2.\n');
    expect((await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--alias', 'hot', '--nomonitor')).stdout).toBe('/mnt/frag: Created new group with 3 region(s) as group ID 3.\n');
    expect(await setup.message('fs', 0, '@stats_list')).toContain('3: 800+8 8 dmstats DMS_GROUP=hot:3-5#-\n');
  });
  it('--precise has no effect with --filemap (LVM2 2.03.16\'s dmstats); sub-ms --bounds still force precise timestamps', async () => {
    await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nomonitor', '--precise');
    expect(await setup.message('fs', 0, '@stats_list')).not.toContain('precise_timestamps');
    await dmctl('stats', 'delete', 'fs', '--allregions');
    await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nomonitor', '--bounds', '500us,2ms');
    expect(await setup.message('fs', 0, '@stats_list')).toContain('precise_timestamps histogram:500000,2000000');
  });
  it('dmstats\' refusals, word for word', async () => {
    expect(await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--areas', '2')).toMatchObject({ code: 1, stderr: '--filemap is incompatible with --areas and --area-size.\n' });
    expect(await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--segments')).toMatchObject({ code: 1, stderr: '--filemap and --segments are incompatible.\n' });
    expect(await dmctl('stats', 'create', '--filemap')).toMatchObject({ code: 1, stderr: '--filemap requires a file path argument\n' });
    expect(await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nogroup', '--nomonitor', '--alias', 'x')).toMatchObject({ code: 1, stderr: 'Cannot set alias with --nogroup.\n' });
    expect(await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--follow', 'inode', '--nomonitor')).toMatchObject({ code: 1, stderr: 'Use of --follow is incompatible with --nomonitor.\n' });
    expect(await dmctl('stats', 'update_filemap', '/mnt/frag')).toMatchObject({ code: 1, stderr: '--groupid is required to update a filemap group.\n' });
    expect(await dmctl('stats', 'update_filemap', '/mnt/frag', '--groupid', '7', '--nomonitor')).toMatchObject({ code: 1, stderr: 'Group ID 7 does not exist.\nCould not update regions from file /mnt/frag\n' });
    simBlockIo(kernel).mapFile('/elsewhere', { device: { major: 8, minor: 0 }, extents: [ext(0n, 1n, 1n)] });
    expect(await dmctl('stats', 'create', '--filemap', '/elsewhere')).toMatchObject({ code: 1, stderr: 'Cannot map file: not a device-mapper device.\nCould not create regions from file /elsewhere.\n' });
  });
  it('update_filemap after an append', async () => {
    await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nomonitor');
    simBlockIo(kernel).mapFile('/mnt/frag', { device: dev, extents: [ext(0n, 100n, 1n), ext(1n, 200n, 1n), ext(2n, 300n, 1n), ext(3n, 400n, 1n)] });
    expect(await dmctl('stats', 'update_filemap', '/mnt/frag', '--groupid', '0', '--nomonitor')).toEqual({ code: 0, stdout: '/mnt/frag: Updated group ID 0 with 4 region(s).\n', stderr: '' });
    const listed = await dmctl('stats', 'list', 'fs', '--group', '-o', 'group_id,region_id,obj_type,region_start', '--noheadings');
    expect(listed.stdout).toBe('0:0-3:group:400.00k\n');
  });
  it('update_filemap after the leader\'s extent went away: dmstats\' unterminated "Group ID changed" line', async () => {
    await dmctl('stats', 'create', '--filemap', '/mnt/frag', '--nomonitor');
    simBlockIo(kernel).mapFile('/mnt/frag', { device: dev, extents: [ext(0n, 500n, 1n), ext(1n, 200n, 1n), ext(2n, 300n, 1n)] });
    // The new first extent takes the freed id 0 again: the table starts with 0, so no change is printed.
    expect((await dmctl('stats', 'update_filemap', '/mnt/frag', '--groupid', '0', '--nomonitor')).stdout).toBe('/mnt/frag: Updated group ID 0 with 3 region(s).\n');
    simBlockIo(kernel).mapFile('/mnt/frag', { device: dev, extents: [ext(0n, 200n, 1n), ext(1n, 300n, 1n)] });
    expect((await dmctl('stats', 'update_filemap', '/mnt/frag', '--groupid', '0', '--nomonitor')).stdout).toBe('Group ID changed from 0 to 1/mnt/frag: Updated group ID 1 with 2 region(s).\n');
    // Truncated to nothing: every region goes, and libdm's table is only its end marker (what dmstats 2.03.16 printed on 6.1).
    simBlockIo(kernel).mapFile('/mnt/frag', { device: dev, extents: [] });
    expect(await dmctl('stats', 'update_filemap', '/mnt/frag', '--groupid', '1', '--nomonitor')).toEqual({
      code: 0, stdout: 'Group ID changed from 1 to 18446744073709551615/mnt/frag: Updated group ID 18446744073709551615 with 0 region(s).\n', stderr: 'Cannot map file: no allocated extents.\n',
    });
    expect(await setup.message('fs', 0, '@stats_list')).toBe('');
  });
});
