// No stale bytes (docs/kernel-facts.md, "Stale bytes"): the kernel copies a request's whole
// data_size in and back, and kernels before a 2023 change (Debian's 6.1) fill target_type with strncpy(…, 15),
// so a 15-character type (snapshot-origin) has no terminator and byte 15 is whatever the
// request buffer held. Found on Debian 6.1: `dmctl status` printed "snapshot-originN".
import { describe, expect, test } from '@jest/globals';
import { codec, COMMANDS, DM_BUFFER_FULL_FLAG, type CommandName } from '../../codec/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { SimError, SimulatedKernel, type SimTargetType } from '../../testing/index.js';
import { ORIGIN_TYPE, poisonedBackend, poisonSequence } from '../conformance/poison.js';

/** The kernel's snapshot-origin as far as these tests need it: one device argument, empty status. */
const snapshotOrigin: SimTargetType = {
  name: ORIGIN_TYPE,
  version: [1, 9, 0],
  construct(argv, _length, ctx) {
    const d = argv.length === 1 ? ctx.lookup(argv[0]!) : undefined;
    if (!d) throw new SimError('EINVAL', 'snapshot-origin: Cannot get target device');
    return { table: `${d.major}:${d.minor}`, status: () => '', deps: [d] };
  },
};

/** Debian 6.1's interface version: target_type is copied with strncpy(…, 15). */
function kernel61(): SimulatedKernel {
  const k = new SimulatedKernel({ version: [4, 47, 0] });
  k.registerTarget(snapshotOrigin);
  return k;
}

const zero = [{ start: 0, length: 2048, type: 'zero', params: '' }];

/** One valid request of every command. */
const REQUESTS: { [C in CommandName]: unknown } = {
  version: {},
  removeAll: {},
  listDevices: { withUuid: true },
  create: { name: 'a', uuid: 'u' },
  remove: { id: { name: 'a' } },
  rename: { name: 'a', newName: 'b' },
  suspend: { id: { name: 'a' }, action: 'suspend' },
  info: { id: { name: 'a' } },
  wait: { id: { name: 'a' }, eventNr: 1 },
  load: { id: { name: 'a' }, targets: [{ start: 0, length: 8, type: 'linear', params: '/dev/loop0 0' }] },
  clear: { id: { name: 'a' } },
  deps: { id: { name: 'a' } },
  status: { id: { name: 'a' }, table: true },
  listVersions: {},
  message: { id: { name: 'a' }, sector: 0, message: '@stats_list' },
  setGeometry: { id: { name: 'a' }, cylinders: 1, heads: 2, sectorsPerTrack: 3, startSectors: 0 },
  armPoll: {},
  getTargetVersion: { target: 'linear' },
};

describe('request buffers carry no stale bytes', () => {
  test.each(COMMANDS.map((c) => [c]))('%s: encoding into a buffer full of 0xA5 gives exactly the bytes of a fresh buffer', (command) => {
    const encode = codec.encodeRequest as (c: CommandName, p: unknown, o?: object) => Uint8Array;
    const fresh = encode(command, REQUESTS[command]);
    const dirty = new Uint8Array(32768).fill(0xa5);
    const reused = encode(command, REQUESTS[command], { into: dirty });
    expect(reused.length).toBe(fresh.length);
    expect(Buffer.from(reused).equals(Buffer.from(fresh))).toBe(true);
    // And past data_size the caller's bytes are not the codec's business: left as they were.
    expect(dirty[fresh.length]).toBe(0xa5);
  });

  test('a target_type of 15 characters without a terminator decodes as those 15 characters', () => {
    // A status reply as 6.1 writes it into a buffer that held 'N' at byte 15 of target_type.
    const req = codec.encodeRequest('status', { id: { name: 'o' } });
    const view = new DataView(req.buffer);
    view.setUint32(12, 312 + 40 + 8, true); // data_size
    view.setUint32(20, 1, true); // target_count
    codec.records.spec.encode(view, req, 312, { sector_start: 0n, length: 2048n, status: 0, next: 48, target_type: ORIGIN_TYPE });
    req[312 + 24 + 15] = 0x4e; // 'N', left over from an earlier call
    req[312 + 40] = 0; // empty status text
    const r = codec.decodeReply('status', req);
    expect(r.targets.map((t) => t.type)).toEqual([ORIGIN_TYPE]);
  });

  test('the simulator copies target_type like the kernel: strncpy(…, 15) on 4.47, NUL-padded on 4.48', () => {
    for (const [version, expected] of [[[4, 47, 0], 0xa5], [[4, 48, 0], 0]] as const) {
      const k = new SimulatedKernel({ version: [...version] });
      k.registerTarget(snapshotOrigin);
      k.addBlockDevice('/dev/loop0', 7, 0, 2048);
      const run = (command: CommandName, params: object, fill = 0) => {
        const buf = new Uint8Array(16384).fill(fill);
        const req = (codec.encodeRequest as (c: CommandName, p: object, o: object) => Uint8Array)(command, params, { into: buf });
        // Old bytes after the (empty) payload, as the codec must never leave them: here on purpose.
        if (fill) req.fill(fill, 312);
        expect(k.ioctl(0xc138fd00 | COMMANDS.indexOf(command), req).ret).toBe(0);
        return req;
      };
      run('create', { name: 'o' });
      run('load', { id: { name: 'o' }, targets: [{ start: 0, length: 2048, type: ORIGIN_TYPE, params: '7:0' }] });
      run('suspend', { id: { name: 'o' }, action: 'resume' });
      const reply = run('status', { id: { name: 'o' } }, 0xa5);
      expect(reply[312 + 24 + 14]).toBe(0x6e); // the 'n' of snapshot-origin
      expect(reply[312 + 24 + 15]).toBe(expected);
      expect(new DataView(reply.buffer).getUint32(28, true) & DM_BUFFER_FULL_FLAG).toBe(0);
    }
  });

  test('a blocking client (dmctl) gets "snapshot-origin" after a listing left bytes in its reused buffer', async () => {
    const k = kernel61();
    const dm = await DeviceMapper.open({ backend: k.backend(), blocking: true });
    try {
      await dm.createDevice({ name: 'base', table: zero });
      const b = await dm.info('base');
      if (!b.exists) throw new Error('base missing');
      // A name whose byte 27 lands, in a LIST_DEVICES reply (name at 312 + 12), on byte 15
      // of the first spec's target_type in a later TABLE_STATUS reply (312 + 24 + 15).
      const name = `origin-${'x'.repeat(20)}N-tail`;
      expect(name[27]).toBe('N');
      await dm.createDevice({ name, table: [{ start: 0, length: 2048, type: ORIGIN_TYPE, params: `${b.dev.major}:${b.dev.minor}` }] });
      dm.listSync({ namePrefix: 'origin' });
      const status = await dm.status(name);
      expect(status.targets.map((t) => t.type)).toEqual([ORIGIN_TYPE]);
      dm.listSync({ namePrefix: 'origin' });
      expect((await dm.table(name)).targets.map((t) => t.type)).toEqual([ORIGIN_TYPE]);
    } finally {
      dm.close();
    }
  });
});

describe('the poison test on the simulator (4.47: strncpy of target_type)', () => {
  test.each([[false], [true]])('blocking %s: the same commands decode identically from 0xA5-filled and zeroed request buffers', async (blocking) => {
    const results = [];
    for (const fill of [undefined, 0xa5, undefined]) {
      const k = kernel61();
      const dm = await DeviceMapper.open({ backend: poisonedBackend(k.backend(), fill), blocking });
      try {
        results.push(await poisonSequence(dm, 'poison-'));
      } finally {
        dm.close();
      }
    }
    const [, poisoned, clean] = results;
    expect(poisoned).toEqual(clean);
    // The sequence did reach the 15-character type, and without errors where none belong.
    const status = new Map(clean!).get('status origin') as { targets: { type: string }[] };
    expect(status.targets.map((t) => t.type)).toEqual([ORIGIN_TYPE]);
    const errors = clean!.filter(([, r]) => (r as { error?: string } | undefined)?.error !== undefined).map(([s]) => s);
    expect(errors).toEqual(['message (no handler)']);
  });
});
