/**
 * The codec against buffers RECORDED from real kernels (fixtures/recorded/<dm version>/, made by
 * fixtures/record/record.ts in the VM: Debian 5.10 → dm 4.43.0, 6.1 → 4.47.0, 6.12 → 4.48.0,
 * 7.3 → 4.50.0). Runs anywhere.
 *
 * For every case: the request re-encodes byte-for-byte from its params; a successful reply
 * decodes to what the recorder's codec decoded (a regression check) AND satisfies invariants
 * stated here independently of the codec (kernel version, data_start/data_size, flags, names,
 * sort order, BUFFER_FULL); a failed call has the errno this file expects and only the
 * version written back.
 */
import { describe, expect, test } from '@jest/globals';
import {
  COMMAND_TABLE, COMMANDS, dmIoctl, viewOf, DM_BUFFER_FULL_FLAG, DM_DATA_OUT_FLAG, DM_DATA_START, DM_DEFERRED_REMOVE, DM_MIN_DATA_SIZE,
  DM_UEVENT_GENERATED_FLAG, createCodec, requestCode, type CommandName, type CommandReplies, type DeviceInfo,
} from '../../codec/index.js';
import { versionOnly } from './command-kinds.js';
import { ERRNO } from '../../ffi/errors.js';
import { firstDifference } from './fixture-loader.js';
import { loadAllRecordings, type RecordedCase, type Recording } from './recorded-loader.js';

const codec = createCodec();
const RECORDINGS = loadAllRecordings();
const PREFIX = 'dmrec-';

/** Failures the kernels must give, by case; a function when the kernels differ. */
const ERRORS: Record<string, keyof typeof ERRNO | ((r: Recording) => keyof typeof ERRNO)> = {
  'version.minor99': 'EINVAL',
  'info.minor99': 'EINVAL',
  'unknown.nr18': 'ENOTTY',
  'getTargetVersion.unknown': 'EINVAL',
  'create.duplicateName': 'EBUSY',
  'create.duplicateUuid': 'EBUSY',
  // A source reading says EBUSY; both kernels say ENXIO (docs/kernel-facts.md, "errno per command").
  'create.takenMinor': 'ENXIO',
  'info.missing': 'ENXIO',
  'suspend.missing': 'ENXIO',
  'load.badTableLine': 'EINVAL',
  'load.unknownType': 'EINVAL',
  // A path that does not exist: 4.47 (6.1) ENODEV, 4.48 (6.12) ENOENT.
  'load.missingDevice': (r) => (r.version[1] >= 48 ? 'ENOENT' : 'ENODEV'),
  'load.missing': 'ENXIO',
  'status.missing': 'ENXIO',
  'rename.uuidAlreadySet': 'EINVAL',
  'rename.nameTaken': 'EBUSY',
  'rename.missing': 'ENXIO',
  'wait.missing': 'ENXIO',
  'message.noTable': 'EINVAL',
  'message.noHandler': 'EINVAL',
  'message.unknownCore': 'EINVAL',
  'setGeometry.missing': 'ENXIO',
  'remove.missing': 'ENXIO',
  'remove.busy': 'EBUSY',
  'info.afterDeferredRemove': 'ENXIO',
};

/** Cases whose reply must carry DM_BUFFER_FULL_FLAG (with ret 0). */
const BUFFER_FULL = new Set([
  'listVersions.bufferFull', 'listDevices.bufferFull', 'deps.bufferFull', 'status.bufferFull', 'status.tableBufferFull',
  'status.bufferFullNone', 'status.tableTruncated', 'message.bufferFull',
]);


/** The cases every recording must have (removeAll/listDevices.empty need a kernel without other devices). */
const REQUIRED = [
  'version.basic', 'listDevices.basic', 'listDevices.withUuid', 'listDevices.prefix', 'create.basic', 'create.uuid',
  'create.persistent', 'remove.basic', 'remove.deferred', 'rename.name', 'rename.uuid', 'suspend.suspend', 'suspend.resume',
  'info.byName', 'info.inactive', 'wait.status', 'wait.table', 'load.zero', 'load.linear', 'load.threeTargets', 'clear.basic',
  'deps.basic', 'status.status', 'status.table', 'status.inactiveTable', 'listVersions.basic', 'message.statsCreate',
  'message.statsList', 'message.noTable', 'setGeometry.basic', 'armPoll.basic', 'getTargetVersion.zero',
  ...Object.keys(ERRORS), ...BUFFER_FULL,
];

interface TableCtx {
  loop: { major: number; minor: number; path: string; sectors: number };
  table: { start: number; length: number; type: string; params: string }[];
}

const sortedByName = (names: string[]) => [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

function reply<C extends CommandName>(c: RecordedCase, _command: C): CommandReplies[C] {
  return codec.decodeReply(c.command as C, c.reply);
}

/** The table text the kernel must give back for a loaded table: devices as major:minor. */
function tableText(ctx: TableCtx) {
  return ctx.table.map((t) => ({
    start: BigInt(t.start), length: BigInt(t.length), type: t.type,
    params: t.params.replace(ctx.loop.path, `${ctx.loop.major}:${ctx.loop.minor}`),
  }));
}

/** LIST honours name/uuid prefixes, sorts by name and reports uuids from 4.45 on. */
function listHasFilters(r: Recording): boolean {
  return r.version[1] >= 45;
}

/** A prefix-filtered LIST: exactly `only` from 4.45; before, the filter is ignored (all devices). */
function expectFiltered(c: RecordedCase, r: Recording, only: string[]): void {
  const names = reply(c, 'listDevices').devices.map((d) => d.name);
  if (listHasFilters(r)) expect(names).toEqual(only);
  else expect(names).toEqual(expect.arrayContaining([...only, `${PREFIX}b`, `${PREFIX}l`, `${PREFIX}p`]));
}

/** Case-specific facts, stated without the codec's record-time decode. */
const CHECKS: Record<string, (c: RecordedCase, r: Recording) => void> = {
  'create.basic': (c) => {
    const { device } = reply(c, 'create');
    expect(device).toMatchObject({ name: `${PREFIX}a`, uuid: null, openCount: 0, eventNr: 0, targetCount: 0 });
    // Not flagged suspended: DMF_SUSPENDED is set by a suspend only (docs/kernel-facts.md, "A new device is not suspended").
    expect(device.flags).toMatchObject({ suspended: false, activePresent: false, inactivePresent: false, readOnly: false });
    expect(device.rawFlags).toBe(0);
  },
  'create.uuid': (c) => expect(reply(c, 'create').device).toMatchObject({ name: `${PREFIX}b`, uuid: 'DMREC-b-uuid' }),
  'create.persistent': (c) => expect(reply(c, 'create').device.dev.minor).toBe(300),
  'info.byUuid': (c) => expect(reply(c, 'info').device).toMatchObject({ name: `${PREFIX}b`, uuid: 'DMREC-b-uuid' }),
  'info.byDev': (c) => expect(reply(c, 'info').device).toMatchObject({ name: `${PREFIX}p`, dev: { minor: 300 } }),
  'load.zero': (c) => expect(reply(c, 'load').device.flags).toMatchObject({ inactivePresent: true, activePresent: false }),
  'info.inactive': (c) => expect(reply(c, 'info').device.targetCount).toBe(1),
  'status.inactiveTable': (c) => expect(reply(c, 'status').targets).toEqual([{ start: 0n, length: 2048n, type: 'zero', params: '' }]),
  'status.noActiveTable': (c) => {
    expect(reply(c, 'status').targets).toEqual([]);
    expect(c.replyDataSize).toBeLessThanOrEqual(DM_DATA_START);
  },
  'clear.basic': (c) => expect(reply(c, 'clear').device.flags.inactivePresent).toBe(false),
  'suspend.resume': (c) => expect(reply(c, 'suspend').device.flags).toMatchObject({ suspended: false, activePresent: true, inactivePresent: false }),
  'suspend.suspend': (c) => expect(reply(c, 'suspend').device.flags.suspended).toBe(true),
  'suspend.suspendAgain': (c) => expect(reply(c, 'suspend').device.flags.suspended).toBe(true),
  'suspend.resumeCookie': (c) => {
    const { device } = reply(c, 'suspend');
    expect(device.flags.suspended).toBe(false);
    expect(device.eventNr).not.toBe(0x0d4d1234);
    expect(c.replyFlags & DM_UEVENT_GENERATED_FLAG).toBe(DM_UEVENT_GENERATED_FLAG);
  },
  'load.threeTargets': (c) => expect(reply(c, 'load').device).toMatchObject({ name: `${PREFIX}l`, uuid: 'DMREC-l-uuid' }),
  'deps.basic': (c) => {
    const { loop } = c.context as unknown as TableCtx;
    expect(reply(c, 'deps').deps.map((d) => [d.major, d.minor])).toEqual([[loop.major, loop.minor]]);
  },
  'deps.inactive': (c) => {
    const { loop } = c.context as unknown as TableCtx;
    expect(reply(c, 'deps').deps.map((d) => [d.major, d.minor])).toEqual([[loop.major, loop.minor]]);
  },
  'deps.noTable': (c) => {
    expect(reply(c, 'deps').deps).toEqual([]);
    expect(c.replyDataSize).toBe(DM_MIN_DATA_SIZE);
  },
  'deps.zeroTable': (c) => expect(reply(c, 'deps').deps).toEqual([]),
  'status.status': (c) => {
    const { table } = c.context as unknown as TableCtx;
    expect(reply(c, 'status').targets).toEqual(table.map((t) => ({ start: BigInt(t.start), length: BigInt(t.length), type: t.type, params: '' })));
  },
  'status.table': (c) => expect(reply(c, 'status').targets).toEqual(tableText(c.context as unknown as TableCtx)),
  'status.byDevTable': (c) => expect(reply(c, 'status').targets).toEqual([{ start: 0n, length: 2048n, type: 'zero', params: '' }]),
  'status.bufferFull': (c) => {
    const r = reply(c, 'status');
    expect(r.device.targetCount).toBe(3);
    expect(r.targets.length).toBeLessThan(3);
    expect(r.targets.length).toBeGreaterThan(0);
  },
  'status.tableBufferFull': (c) => {
    const r = reply(c, 'status');
    expect(r.device.targetCount).toBe(3);
    expect(r.targets).toEqual(tableText(c.context as unknown as TableCtx).slice(0, 2));
    // data_size = the end of the zero spec's empty string (312 + 48 + 40 + 1), not 8-aligned, and
    // that spec's `next` was never written: it keeps the request's bytes (zeros).
    expect(c.replyDataSize).toBe(401);
    expect(new DataView(c.reply.buffer).getUint32(DM_DATA_START + 48 + 20, codec.endian === 'little')).toBe(0);
  },
  'status.tableTruncated': (c) => {
    // The only spec's string did not fit: nothing counts as written (used = 0), data_size stays 305.
    expect(reply(c, 'status').targets).toEqual([]);
    expect(c.replyDataSize).toBe(DM_MIN_DATA_SIZE);
  },
  'status.bufferFullNone': (c) => {
    expect(reply(c, 'status').targets).toEqual([]);
    expect(c.replyDataSize).toBe(DM_MIN_DATA_SIZE);
  },
  'wait.status': (c) => {
    const r = reply(c, 'wait');
    expect(r.device.eventNr).not.toBe(0);
    expect(r.targets).toEqual([{ start: 0n, length: 2048n, type: 'zero', params: '' }]);
  },
  'wait.table': (c) => {
    const r = reply(c, 'wait');
    expect(r.device.eventNr).toBe((c.context as { deviceEventNr: number }).deviceEventNr);
    expect(r.targets).toEqual(tableText(c.context as unknown as TableCtx));
  },
  'rename.name': (c) => expect(reply(c, 'rename').device.name).toBe(`${PREFIX}a`),
  'rename.uuid': (c) => expect(reply(c, 'rename').device).toMatchObject({ name: `${PREFIX}a2`, uuid: null }),
  'info.afterRename': (c) => {
    const { device } = reply(c, 'info');
    expect(device).toMatchObject({ name: `${PREFIX}a2`, uuid: 'DMREC-a-uuid' });
    expect(device.eventNr).toBeGreaterThanOrEqual(1);
  },
  'listDevices.empty': (c) => {
    expect(reply(c, 'listDevices').devices).toEqual([]);
    expect(c.replyDataSize).toBe(DM_DATA_START);
  },
  'listDevices.afterRemoveAll': (c) => expect(reply(c, 'listDevices').devices).toEqual([]),
  'listDevices.afterRemove': (c) => expect(reply(c, 'listDevices').devices).toEqual([]),
  'listDevices.prefixNoMatch': (c) => expect(reply(c, 'listDevices').devices).toEqual([]),
  'listDevices.basic': (c) => {
    const devs = reply(c, 'listDevices').devices;
    for (const d of devs) expect(d.uuid).toBeUndefined();
    for (const d of devs) expect(typeof d.eventNr).toBe('number');
  },
  'listDevices.withUuid': (c, rec) => {
    const devs = reply(c, 'listDevices').devices;
    const byName = Object.fromEntries(devs.map((d) => [d.name, d.uuid]));
    // Before 4.45 LIST has no uuids (and the flags word is unwritten): uuid is unknown.
    if (!listHasFilters(rec)) for (const d of devs) expect([d.name, d.uuid]).toEqual([d.name, undefined]);
    else expect(byName).toMatchObject({ [`${PREFIX}a2`]: 'DMREC-a-uuid', [`${PREFIX}b`]: 'DMREC-b-uuid', [`${PREFIX}l`]: 'DMREC-l-uuid', [`${PREFIX}p`]: null });
    const p = devs.find((d) => d.name === `${PREFIX}p`)!;
    expect(p.dev.minor).toBe(300);
  },
  // Before 4.45 the kernel ignores both prefixes and lists every device (the client filters).
  'listDevices.prefix': (c, rec) => expectFiltered(c, rec, [`${PREFIX}a2`]),
  'listDevices.uuidPrefix': (c, rec) => expectFiltered(c, rec, [`${PREFIX}l`]),
  'listDevices.bufferFull': (c) => {
    expect(reply(c, 'listDevices').devices).toEqual([]);
    expect(c.replyDataSize).toBe(DM_MIN_DATA_SIZE);
  },
  'listVersions.basic': (c) => {
    const names = reply(c, 'listVersions').targets.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['linear', 'striped', 'error', 'zero']));
  },
  'listVersions.bufferFull': (c) => {
    expect(reply(c, 'listVersions').targets).toEqual([]);
    expect(c.replyDataSize).toBe(DM_MIN_DATA_SIZE);
  },
  'getTargetVersion.zero': (c) => {
    const t = reply(c, 'getTargetVersion').targets;
    expect(t.map((x) => x.name)).toEqual(['zero']);
    expect(t[0]!.version[0]).toBeGreaterThanOrEqual(1);
  },
  'message.statsCreate': (c) => {
    const r = reply(c, 'message');
    expect(r.dataOut).toBe(true);
    expect(r.output).toMatch(/^[0-9]+$/);
  },
  'message.statsList': (c) => {
    const r = reply(c, 'message');
    expect(r.dataOut).toBe(true);
    expect(r.output).toMatch(/^0: 0\+2560 640 - -\n$/);
  },
  'message.statsListNoTable': (c) => expect(reply(c, 'message')).toMatchObject({ dataOut: true, output: '' }),
  'message.bufferFull': (c) => {
    const r = reply(c, 'message');
    expect(r.dataOut).toBe(true);
    expect(r.output).toBeUndefined();
  },
  'message.statsDelete': (c) => expect(reply(c, 'message')).toMatchObject({ dataOut: false, output: undefined }),
  'message.cancelDeferredRemove': (c) => expect(reply(c, 'message')).toMatchObject({ dataOut: false, output: undefined }),
  'message.cancelDeferredRemoveScheduled': (c) => expect(reply(c, 'message')).toMatchObject({ dataOut: false, output: undefined }),
  'info.open': (c) => expect(reply(c, 'info').device.openCount).toBe(1),
  'remove.basic': (c) => expect(reply(c, 'remove')).toMatchObject({ name: `${PREFIX}p`, deferred: false }),
  'remove.byUuidCookie': (c) => expect(reply(c, 'remove')).toMatchObject({ name: `${PREFIX}b`, uuid: 'DMREC-b-uuid', deferred: false }),
  'remove.withTable': (c) => expect(reply(c, 'remove')).toMatchObject({ name: `${PREFIX}a2`, uuid: 'DMREC-a-uuid', deferred: false }),
  'remove.deferred': (c) => {
    expect(reply(c, 'remove')).toMatchObject({ name: `${PREFIX}l`, deferred: true });
    expect(c.replyFlags & DM_DEFERRED_REMOVE).toBe(DM_DEFERRED_REMOVE);
  },
  'info.deferredPending': (c) => expect(reply(c, 'info').device.flags.deferredRemove).toBe(true),
  'info.deferredCancelled': (c) => expect(reply(c, 'info').device.flags.deferredRemove).toBe(false),
};

test('there are recordings from every kernel of the matrix (4.43, 4.47, 4.48, 4.50)', () => {
  expect(RECORDINGS.map((r) => r.dmVersion)).toEqual(expect.arrayContaining(['4.43.0', '4.47.0', '4.48.0', '4.50.0']));
});

test('every kernel recorded the same cases', () => {
  const [first, ...rest] = RECORDINGS;
  for (const r of rest) expect(r.cases.map((c) => c.id)).toEqual(first!.cases.map((c) => c.id));
});

test('the kernels agree on every result except load.missingDevice (ENODEV before 4.48, ENOENT from 4.48)', () => {
  const [first, ...rest] = RECORDINGS;
  const enoent = (r: Recording) => r.version[1] >= 48;
  for (const r of rest) {
    const differ = r.cases.filter((c, i) => c.result.errno !== first!.cases[i]!.result.errno).map((c) => c.id);
    expect([r.dmVersion, differ]).toEqual([r.dmVersion, enoent(first!) === enoent(r) ? [] : ['load.missingDevice']]);
  }
});

describe.each(RECORDINGS.map((r) => [r.dmVersion, r] as const))('dm %s', (dmVersion, rec) => {
  test('recording.json: finished without error or surprises, on the kernel it names', () => {
    expect(rec.run.error).toBeUndefined();
    expect(rec.run.surprises).toEqual([]);
    expect(rec.run.kernel.dmVersion).toBe(dmVersion);
    expect(rec.run.endian).toBe(codec.endian);
    expect([...rec.run.cases].sort()).toEqual(rec.cases.map((c) => c.id));
    expect(rec.version[0]).toBe(4);
    expect([43, 47, 48, 50]).toContain(rec.version[1]);
  });

  test('all 18 commands succeed at least once', () => {
    const ok = new Set(rec.cases.filter((c) => c.result.ret === 0).map((c) => c.command));
    const skippedRemoveAll = rec.run.skipped.some((s) => s.startsWith('removeAll'));
    expect([...COMMANDS].filter((c) => !ok.has(c))).toEqual(skippedRemoveAll ? ['removeAll'] : []);
  });

  test('the required cases are present', () => {
    const ids = new Set(rec.cases.map((c) => c.id));
    expect(REQUIRED.filter((id) => !ids.has(id))).toEqual([]);
  });

  test('the call sequence is complete and in order', () => {
    expect(rec.run.sequence.map((e) => e.seq)).toEqual(rec.run.sequence.map((_, i) => i));
    for (const c of rec.cases) {
      const e = rec.run.sequence[c.seq]!;
      expect([c.id, e.case, e.ret, e.errno]).toEqual([c.id, c.id, c.result.ret, c.result.errno]);
    }
  });

  describe.each(rec.cases.map((c) => [c.id, c] as const))('%s', (id, c) => {
    test('the case is consistent: request number, kernel, lengths', () => {
      expect(COMMANDS).toContain(c.command);
      expect(c.request).toBe(c.requestNr === undefined ? requestCode(c.command) : (0xc138fd00 | c.requestNr) >>> 0);
      expect(c.kernel).toEqual(rec.run.kernel);
      expect(c.req.length).toBe(c.requestBytes);
      expect(c.reply.length).toBe(c.req.length);
      expect(c.description.length).toBeGreaterThan(10);
    });

    test('encodeRequest(params, options) equals the recorded request bytes', () => {
      const encode = codec.encodeRequest as (cmd: CommandName, p: unknown, o: unknown) => Uint8Array;
      const again = encode(c.command, c.params, c.options);
      expect(firstDifference(again, c.req)).toBeUndefined();
      // The only deliberate deviations are named in `patched` and reproduced by `options`/`requestNr`.
      for (const k of Object.keys(c.patched ?? {})) expect(['version', 'requestNr']).toContain(k);
      if (c.patched?.version) expect(codec.readVersion(c.req)).toEqual(c.patched.version);
    });

    test('the kernel wrote its own version back', () => {
      expect(codec.readVersion(c.reply)).toEqual(rec.version);
    });

    if (c.result.ret !== 0) {
      test('failure: the expected errno, and nothing but the version written back', () => {
        const want = ERRORS[id];
        expect(want).toBeDefined();
        const name = typeof want === 'function' ? want(rec) : want!;
        expect([c.result.ret, c.result.errno]).toEqual([-1, ERRNO[name]]);
        expect(c.result.errnoName).toBe(name);
        expect(firstDifference(c.reply.subarray(12), c.req.subarray(12))).toBeUndefined();
        expect(c.expected).toBeUndefined();
      });
      return;
    }

    test('success was expected', () => {
      expect([id, ERRORS[id]]).toEqual([id, undefined]);
      expect(c.result).toEqual({ ret: 0, errno: 0, errnoName: null });
      expect(c.decodeError).toBeUndefined();
    });

    test('decodeReply equals the decode made at record time', () => {
      expect(codec.decodeReply(c.command, c.reply)).toEqual(c.expected);
    });

    test('header invariants: data_start, data_size, BUFFER_FULL, untouched tail', () => {
      const h = codec.decodeHeader(c.reply);
      expect(h.data_size).toBe(c.replyDataSize);
      expect(h.flags).toBe(c.replyFlags);
      expect(h.data_start).toBe(DM_DATA_START);
      if (versionOnly(c.command)) {
        // Nothing copied back but the version: the rest is the request. One exception: a
        // NO_PARAMS command whose handler leaves data_size alone (ARM_POLL) has its header
        // copied back, with the data_size copy_params() set (305) and nothing else changed.
        const expected = c.req.slice();
        if (COMMAND_TABLE[c.command].noParams && h.data_size === DM_MIN_DATA_SIZE) {
          viewOf(expected).setUint32(dmIoctl.offsetOf.data_size, DM_MIN_DATA_SIZE, codec.endian === 'little');
        }
        expect(firstDifference(c.reply.subarray(12), expected.subarray(12))).toBeUndefined();
        return;
      }
      expect(h.data_size).toBeGreaterThanOrEqual(DM_MIN_DATA_SIZE);
      expect(h.data_size).toBeLessThanOrEqual(c.reply.length);
      // copy_to_user copies data_size bytes: everything after keeps the request's contents.
      expect(firstDifference(c.reply.subarray(h.data_size), c.req.subarray(h.data_size))).toBeUndefined();
      expect([id, (h.flags & DM_BUFFER_FULL_FLAG) !== 0]).toEqual([id, BUFFER_FULL.has(id)]);
      if (c.command === 'message') {
        const out = (h.flags & DM_DATA_OUT_FLAG) !== 0;
        if (out && !BUFFER_FULL.has(id)) expect(h.data_size).toBeGreaterThan(DM_DATA_START);
      }
    });

    if (c.command === 'listDevices') {
      test('list: sorted by name (4.45+), every name and dev plausible, our devices present', () => {
        const devs = reply(c, 'listDevices').devices;
        const names = devs.map((d) => d.name);
        const mine = (c.context?.mine ?? []) as string[];
        expect(names).toEqual(expect.arrayContaining(mine));
        // Before 4.45: hash-bucket order, no prefix filters (docs/kernel-facts.md).
        if (!listHasFilters(rec)) return;
        expect(names).toEqual(sortedByName(names));
        const { namePrefix, uuidPrefix } = c.params as { namePrefix?: string; uuidPrefix?: string };
        if (namePrefix) for (const n of names) expect(n.startsWith(namePrefix)).toBe(true);
        if (uuidPrefix) for (const d of devs) expect(d.uuid?.startsWith(uuidPrefix)).toBe(true);
      });
    }

    if ('device' in (c.expected as object)) {
      test('device header: the name of the device addressed', () => {
        const d = (c.expected as { device: DeviceInfo }).device;
        expect(d.name.startsWith(PREFIX)).toBe(true);
        expect(d.dev.major).toBeGreaterThan(0);
        const p = c.params as { id?: { name?: string; uuid?: string }; name?: string };
        if (c.command !== 'rename' && p.id?.name) expect(d.name).toBe(p.id.name);
        if (p.id?.uuid) expect(d.uuid).toBe(p.id.uuid);
      });
    }

    const check = CHECKS[id];
    if (check) test('case-specific facts', () => check(c, rec));
  });
});
