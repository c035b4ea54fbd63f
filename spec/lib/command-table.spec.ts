/**
 * The command table (codec/command-table.ts) is complete: every row is well-formed, every
 * command round-trips through the table — request planned and encoded by its row, processed
 * by the simulated kernel, reply decoded by its row's reply kind — and dmctl's hex annotator
 * names every field of every layout the package declares.
 */
import { describe, expect, test } from '@jest/globals';
import {
  codec, COMMAND_TABLE, COMMANDS, commandByNumber, compile, dmIoctl, requestCode, RECORDS, viewOf,
  type CommandName, type CommandRequests, type Layout, type ReplyKind,
} from '../../codec/index.js';
import { SYSCALL_RECORDS } from '../../codec/syscall-records.js';
import { SimulatedKernel } from '../../testing/index.js';
import { DeviceMapper } from '../../lib/index.js';
import { annotateLayout, annotateRequest, resolveCommand } from '../../cli/hex.js';

/** One valid request per command, against a kernel holding device `vol` (a live zero table). */
const SAMPLE: { [C in CommandName]: CommandRequests[C] } = {
  version: {},
  removeAll: {},
  listDevices: { withUuid: true },
  create: { name: 'other', uuid: 'other-uuid' },
  remove: { id: { name: 'vol' } },
  rename: { name: 'vol', newName: 'vol2' },
  suspend: { id: { name: 'vol' }, action: 'suspend' },
  info: { id: { name: 'vol' } },
  wait: { id: { name: 'vol' }, eventNr: 99 },
  load: { id: { name: 'vol' }, targets: [{ start: 0, length: 8, type: 'zero', params: '' }] },
  clear: { id: { name: 'vol' } },
  deps: { id: { name: 'vol' } },
  status: { id: { name: 'vol' } },
  listVersions: {},
  message: { id: { name: 'vol' }, message: '@stats_list' },
  setGeometry: { id: { name: 'vol' }, cylinders: 1, heads: 2, sectorsPerTrack: 3, startSectors: 4 },
  armPoll: {},
  getTargetVersion: { target: 'zero' },
};

/** The keys each reply kind decodes to (the oracle: what codec/types.ts's ReplyKinds declares). */
const KIND_KEYS: Record<ReplyKind, string[]> = {
  version: ['version'],
  device: ['device', 'version'],
  removed: ['deferred', 'name', 'ueventGenerated', 'uuid', 'version'],
  names: ['bufferFull', 'devices', 'version'],
  versions: ['bufferFull', 'targets', 'version'],
  targets: ['bufferFull', 'device', 'targets', 'version'],
  deps: ['bufferFull', 'deps', 'device', 'version'],
  message: ['bufferFull', 'dataOut', 'output', 'version'],
};

async function kernelWithVol(): Promise<SimulatedKernel> {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  await dm.createDevice({ name: 'vol', table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
  dm.close();
  return kernel;
}

describe('the rows', () => {
  test('numbers are dense from 0 and unique; COMMANDS is the kernel order; request codes carry them', () => {
    expect(COMMANDS.map((c) => COMMAND_TABLE[c].nr)).toEqual(COMMANDS.map((_, i) => i));
    expect(new Set(COMMANDS)).toEqual(new Set(Object.keys(COMMAND_TABLE)));
    for (const c of COMMANDS) {
      expect(commandByNumber(COMMAND_TABLE[c].nr)).toBe(c);
      expect(requestCode(c)).toBe((0xc138fd00 | COMMAND_TABLE[c].nr) >>> 0);
    }
  });

  test('kernel names and client methods are unique; dmctl resolves every client and kernel name', () => {
    const kernelNames = COMMANDS.map((c) => COMMAND_TABLE[c].kernelName);
    expect(new Set(kernelNames).size).toBe(COMMANDS.length);
    expect(new Set(COMMANDS.map((c) => COMMAND_TABLE[c].client)).size).toBe(COMMANDS.length);
    for (const c of COMMANDS) {
      expect(resolveCommand(c)).toBe(c);
      expect(resolveCommand(COMMAND_TABLE[c].kernelName)).toBe(c);
      expect(typeof (DeviceMapper.prototype as unknown as Record<string, unknown>)[COMMAND_TABLE[c].client]).toBe('function');
    }
  });

  test('a header-only (no-params) command has no request payload and no reply payload', () => {
    for (const c of COMMANDS) {
      const row = COMMAND_TABLE[c];
      if (row.noParams) expect([c, row.request, row.payload]).toEqual([c, 'none', false]);
    }
  });
});

describe.each([...COMMANDS])('%s round-trips through its row', (command) => {
  test('encode (its minimum version, its buffer kind) → simulated kernel → decode (its reply kind)', async () => {
    const row = COMMAND_TABLE[command];
    const kernel = await kernelWithVol();
    const encode = codec.encodeRequest as (c: CommandName, p: object, o?: object) => Uint8Array;
    const req = encode(command, SAMPLE[command], { bufferBytes: 8192 });
    const h = codec.decodeHeader(req);
    expect(h.version).toEqual([...row.minVersion]);
    // Payload commands get the buffer asked for; the others exactly what the request needs.
    if (row.payload) expect(h.data_size).toBe(8192);
    else expect(h.data_size).toBeLessThan(8192);
    const before = kernel.globalEventNr;
    expect(kernel.ioctl(requestCode(command), req)).toEqual({ ret: 0, errno: 0 });
    const reply = codec.decodeReply(command, req) as object;
    expect(Object.keys(reply).sort()).toEqual(KIND_KEYS[row.reply]);
    // IOCTL_FLAGS_ISSUE_GLOBAL_EVENT: only these commands move the global event number by themselves.
    if (row.globalEvent) expect(kernel.globalEventNr).toBeGreaterThan(before);
    // dmctl's dump covers every byte it shows, with a name for each field.
    const dump = annotateRequest(command, SAMPLE[command]);
    expect(dump.ioctl).toBe(row.kernelName);
    for (const f of dump.fields) expect(f.field).toMatch(/^[a-z_[\]0-9.]+$/);
  });
});

describe('the hex annotator walks the layouts', () => {
  const layouts: Layout[] = [...Object.values(RECORDS), ...Object.values(SYSCALL_RECORDS)];

  test.each(layouts.map((l) => [l.name, l] as const))('%s: every field named, at its offset, with the codec\'s value', (_, layout) => {
    // Distinct bytes everywhere, NUL at the end of each char field: every value is recognisable.
    const bytes = new Uint8Array(layout.size + 8).map((_, i) => (i * 7 + 1) & 0x7f || 1);
    for (const f of layout.fields) if (f.type.kind === 'char') bytes[f.offset + 5] = 0;
    const fields = annotateLayout(layout, bytes, 0, layout.name);
    const named = layout.fields.filter((f) => f.type.kind !== 'flex');
    expect(fields.map((f) => [f.field, f.offsetBytes, f.sizeBytes])).toEqual(named.map((f) => [`${layout.name}.${f.name}`, f.offset, f.size]));
    const decoded = compile(layout).decode(viewOf(bytes), bytes, 0) as Record<string, unknown>;
    for (const f of named) {
      if (f.type.kind !== 'array') continue;
      // Arrays of any element type read as the codec reads them (u64 lo_init, u8 lo_encrypt_key, u32 version).
      const shown = fields.find((x) => x.field === `${layout.name}.${f.name}`)!.value;
      expect(shown).toBe(`[${(decoded[f.name] as unknown[]).map(String).join(', ')}]`);
    }
  });

  test('the dm_ioctl header of every request: version, flags and dev as the codec decodes them', () => {
    for (const c of COMMANDS) {
      const dump = annotateRequest(c, SAMPLE[c]);
      const header = dump.fields.filter((f) => f.field.startsWith('dm_ioctl.'));
      expect(header.map((f) => f.field)).toEqual(dmIoctl.fields.map((f) => `dm_ioctl.${f.name}`));
      expect(header[0]!.value).toBe(`[${COMMAND_TABLE[c].minVersion.join(', ')}]`);
    }
  });
});
