/**
 * The codec against golden fixtures whose truth is the kernel's own <linux/dm-ioctl.h>
 * (fixtures/gen/dmgen.c, compiled for x86_64 and, cross, for big-endian s390x). Needs no
 * compiler: the fixtures are committed. `npm run fixtures:check` proves they are current.
 */
import { describe, expect, test } from '@jest/globals';
import * as codecApi from '../../codec/index.js';
import {
  COMMANDS, DM_DATA_START, DM_IOCTL_SIZE, DM_MAX_TYPE_NAME, DM_MIN_DATA_SIZE, DM_NAME_LEN, DM_UUID_LEN,
  DM_VERSION_MAJOR, DmCodecError, COMMAND_TABLE, commandNumber, createCodec, dmIoctl, dmNameList,
  dmTargetDeps, dmTargetMsg, dmTargetSpec, dmTargetVersions, requestCode, type CommandName, type Layout,
} from '../../codec/index.js';
import { fixtureArchs, firstDifference, getPath, loadFixtures, type FixtureCase } from './fixture-loader.js';

const ARCHS = fixtureArchs();

const RECORDS: Record<string, Layout> = {
  dm_ioctl: dmIoctl,
  dm_target_spec: dmTargetSpec,
  dm_target_deps: dmTargetDeps,
  dm_name_list: dmNameList,
  dm_target_versions: dmTargetVersions,
  dm_target_msg: dmTargetMsg,
};

/** Commands whose reply carries the __dev_status() header (`device`). DEV_REMOVE writes only name, uuid and two flags. */
const DEVICE_COMMANDS = new Set<CommandName>(['create', 'rename', 'suspend', 'info', 'wait', 'load', 'clear', 'deps', 'status']);

function describeBytes(a: Uint8Array, b: Uint8Array): string | undefined {
  const at = firstDifference(a, b);
  if (at === undefined) return undefined;
  const hex = (x: Uint8Array) => Array.from(x.subarray(Math.max(0, at - 4), at + 12), (v) => v.toString(16).padStart(2, '0')).join(' ');
  return `lengths ${a.length}/${b.length}; first difference at byte ${at}:\n  got      ${hex(a)}\n  expected ${hex(b)}`;
}

function encode(codec: codecApi.DmCodec, c: FixtureCase): Uint8Array {
  const options = c.bufferBytes === undefined ? {} : { bufferBytes: c.bufferBytes };
  return (codec.encodeRequest as (cmd: CommandName, p: unknown, o: unknown) => Uint8Array)(c.command, c.params, options);
}

test('fixtures exist for a little-endian and a big-endian architecture', () => {
  expect(ARCHS).toEqual(expect.arrayContaining(['x86_64', 's390x']));
  const orders = ARCHS.map((a) => loadFixtures(a).endian);
  expect(orders).toEqual(expect.arrayContaining(['little', 'big']));
});

test('every architecture has the same cases, params and expected replies; the bytes differ by byte order', () => {
  const all = ARCHS.map(loadFixtures);
  const [first, ...rest] = all;
  for (const fx of rest) {
    expect(fx.cases.map((c) => c.id)).toEqual(first!.cases.map((c) => c.id));
    fx.cases.forEach((c, i) => {
      const o = first!.cases[i]!;
      expect({ ...c, req: undefined, reply: undefined }).toEqual({ ...o, req: undefined, reply: undefined });
      expect(c.req.length).toBe(o.req.length);
      if (fx.endian !== first!.endian) expect(firstDifference(c.req, o.req)).toBeDefined();
    });
  }
});

describe.each(ARCHS)('%s', (arch) => {
  const fx = loadFixtures(arch);
  const codec = createCodec({ endian: fx.endian });

  describe('layout.json (the C compiler and the kernel header) equals the codec', () => {
    test('byte order', () => {
      expect(codec.endian).toBe(fx.layout.byteOrder);
    });

    test.each(Object.keys(RECORDS))('struct %s: size, alignment, offsetof of every field', (name) => {
      const c = fx.layout.structs[name]!;
      const rec = RECORDS[name]!;
      expect(c).toBeDefined();
      expect({ size: rec.size, align: rec.align, offsets: Object.fromEntries(rec.fields.map((f) => [f.name, f.offset])) })
        .toEqual({ size: c.size, align: c.align, offsets: c.offsets });
    });

    test('header sizes the codec builds on', () => {
      const h = fx.layout.structs.dm_ioctl!;
      expect(DM_IOCTL_SIZE).toBe(h.size);
      expect(DM_MIN_DATA_SIZE).toBe(h.offsets.data);
      expect(DM_DATA_START).toBe(Math.ceil(h.size / 8) * 8);
    });

    test('request numbers of the 18 commands', () => {
      const got = Object.fromEntries(COMMANDS.map((c) => [COMMAND_TABLE[c].kernelName, { nr: commandNumber(c), request: requestCode(c) }]));
      expect(got).toEqual(fx.layout.commands);
    });

    test('flag values', () => {
      const constants = codecApi as unknown as Record<string, unknown>;
      const got = Object.fromEntries(Object.keys(fx.layout.flags).map((k) => [k, constants[k]]));
      expect(got).toEqual(fx.layout.flags);
    });

    test('constants', () => {
      const k = fx.layout.constants;
      expect({ DM_NAME_LEN, DM_UUID_LEN, DM_MAX_TYPE_NAME, DM_VERSION_MAJOR, DM_IOCTL: (requestCode('version') >>> 8) & 0xff })
        .toEqual({ DM_NAME_LEN: k.DM_NAME_LEN, DM_UUID_LEN: k.DM_UUID_LEN, DM_MAX_TYPE_NAME: k.DM_MAX_TYPE_NAME, DM_VERSION_MAJOR: k.DM_VERSION_MAJOR, DM_IOCTL: k.DM_IOCTL });
    });
  });

  test('the cases cover all 18 commands', () => {
    expect(new Set(fx.cases.map((c) => c.command))).toEqual(new Set(COMMANDS));
  });

  describe.each(fx.cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    test('the case is consistent', () => {
      expect(COMMANDS).toContain(c.command);
      expect(c.request).toBe(requestCode(c.command));
      expect(c.req.length).toBe(c.requestBytes);
      expect(c.reply.length).toBe(c.req.length);
      expect(codec.decodeHeader(c.reply).data_size).toBe(c.replyDataSize);
      // The fixtures were made so the kernel's reply differs from the request.
      expect(c.kernelWritten).toContain('version');
      if (DEVICE_COMMANDS.has(c.command)) expect(c.kernelWritten.some((p) => p.startsWith('device.'))).toBe(true);
      if (c.command === 'remove') expect(c.kernelWritten.length).toBeGreaterThan(1);
      // Every path names a field of the expected reply.
      for (const p of c.kernelWritten) expect([p, getPath(c.expected, p) !== undefined]).toEqual([p, true]);
    });

    test('encodeRequest(params) equals the request bytes', () => {
      expect(describeBytes(encode(codec, c), c.req)).toBeUndefined();
    });

    test('decodeReply(reply bytes) equals the expected reply', () => {
      expect(codec.decodeReply(c.command, c.reply)).toEqual(c.expected);
    });

    test('decoding the request bytes does not yield what the kernel wrote', () => {
      let fromRequest: unknown;
      try {
        fromRequest = codec.decodeReply(c.command, c.req);
      } catch (e) {
        expect(e).toBeInstanceOf(DmCodecError);
        return;
      }
      for (const path of c.kernelWritten) {
        expect([path, getPath(fromRequest, path)]).not.toEqual([path, getPath(c.expected, path)]);
      }
    });
  });
});
