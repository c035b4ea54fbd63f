/**
 * Tables in the simulated kernel: populate_table() reading a TABLE_LOAD's spec chain and
 * constructing each target, retrieve_status() writing the status or table text back (with
 * codec/reply-chains.ts), and how a table's device arguments resolve to block devices.
 */
import {
  dmTargetSpec, DM_DATA_START, DM_BUFFER_FULL_FLAG, DM_IMA_MEASUREMENT_FLAG, DM_MIN_DATA_SIZE,
  DM_QUERY_INACTIVE_TABLE_FLAG, DM_READONLY_FLAG, DM_STATUS_TABLE_FLAG, writeStatusChain,
} from '../codec/index.js';
import { SimError } from './errors.js';
import { splitArgs, type ConstructedTarget, type SimBlockDevice } from './targets.js';
import { checkDeviceAreas } from './device-areas.js';
import { loadModule, type Call, type SimCore } from './sim-call.js';
import type { SimDevice, SimTable } from './sim-model.js';

/** Where a payload-returning command writes (get_result_buffer(): data_start = the aligned header). */
const OUT = DM_DATA_START;
const SPEC = dmTargetSpec.size;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The table a call addresses: the inactive one with DM_QUERY_INACTIVE_TABLE_FLAG. */
export function tableOf(d: SimDevice, k: Call): SimTable | undefined {
  return (k.flags & DM_QUERY_INACTIVE_TABLE_FLAG) ? d.inactive : d.live;
}

/** get_result_buffer(): data_start becomes the aligned header size; returns the bytes available after it. */
export function resultBuffer(k: Call, size: number): number {
  k.dataStart = OUT;
  return size > OUT ? size - OUT : 0;
}

function lookupBlock(s: SimCore, arg: string): SimBlockDevice | undefined {
  const m = /^(\d+):(\d+)$/.exec(arg);
  if (m) {
    const [ma, mi] = [Number(m[1]), Number(m[2])];
    const found = s.blockDevices.find((b) => b.major === ma && b.minor === mi);
    if (found) return found;
    if (ma === s.major) return dmBlock(s, [...s.devices.values()].find((d) => d.minor === mi));
    return undefined;
  }
  const found = s.blockDevices.find((b) => b.path === arg);
  if (found) return found;
  const dm = /^\/dev\/(?:dm-(\d+)|mapper\/(.+))$/.exec(arg);
  if (dm) {
    return dmBlock(s, dm[1] !== undefined
      ? [...s.devices.values()].find((d) => d.minor === Number(dm[1]))
      : s.devices.get(dm[2]!));
  }
  return undefined;
}

function dmBlock(s: SimCore, d: SimDevice | undefined): SimBlockDevice | undefined {
  if (!d || !d.live) return undefined;
  const sectors = d.live.lines.reduce((s, l) => s + l.length, 0n);
  return { path: `/dev/dm-${d.minor}`, major: s.major, minor: d.minor, sizeSectors: sectors };
}

/** populate_table(): walks the spec chain exactly as the kernel does. */
export function readTable(s: SimCore, k: Call, size: number, d: SimDevice): SimTable {
  const count = k.targetCount;
  if (count === 0) throw new SimError('EINVAL', 'ioctl: populate_table: no targets specified');
  const lines: SimTable['lines'] = [];
  let next = k.dataStart;
  let end = 0;
  let expected = 0n;
  for (let i = 0; i < count; i++) {
    // next_target(): the spec must lie after the previous params, with room for itself and a NUL.
    if (next < end || next < DM_MIN_DATA_SIZE) throw new SimError('EINVAL', 'ioctl: populate_table: next target spec overlaps');
    const off = next;
    if (off + SPEC + 1 > size) throw new SimError('EINVAL', 'ioctl: populate_table: invalid target spec');
    const spec = s.codec.records.spec.decode(k.view, k.buf, off);
    let nul = off + SPEC;
    while (nul < size && k.buf[nul] !== 0) nul++;
    if (nul >= size) throw new SimError('EINVAL', 'ioctl: populate_table: unterminated target params');
    const params = dec.decode(k.buf.subarray(off + SPEC, nul));
    end = nul + 1;
    next = off + spec.next;
    // dm_table_add_target() names the device by dm_device_name(): "major:minor" (docs/kernel-facts.md).
    const where = `${s.major}:${d.minor}`;
    if (spec.length === 0n) throw new SimError('EINVAL', `table: ${where}: zero-length target`);
    if (spec.sector_start !== expected) throw new SimError('EINVAL', `table: ${where}: gap in target ranges after sector ${expected}`);
    expected = spec.sector_start + spec.length;
    const type = s.targets.get(spec.target_type);
    if (!type) throw new SimError('EINVAL', `table: ${where}: ${spec.target_type}: unknown target type`);
    loadModule(s, type.name);
    let target: ConstructedTarget;
    try {
      target = type.construct(splitArgs(params), spec.length, {
        lookup: (a) => lookupBlock(s, a),
        lookupErrno: s.version[1] >= 48 ? 'ENOENT' : 'ENODEV',
      });
    } catch (e) {
      if (e instanceof SimError) {
        s.logLine(`table: ${where}: ${e.log}`);
        throw new SimError(e.errnoName, 'ioctl: error adding target to table');
      }
      throw e;
    }
    lines.push({ start: spec.sector_start, length: spec.length, type: type.name, target });
  }
  checkDeviceAreas(lines, `${s.major}:${d.minor}`); // after every target is constructed (device-areas.ts)
  return { lines, readOnly: (k.flags & DM_READONLY_FLAG) !== 0 };
}

/** retrieve_status(): specs with `next` from data_start; partial fill on overflow. */
export function retrieveStatus(s: SimCore, table: SimTable, k: Call, size: number): void {
  const len = resultBuffer(k, size);
  const asTable = (k.flags & DM_STATUS_TABLE_FLAG) !== 0;
  const ima = (k.flags & DM_IMA_MEASUREMENT_FLAG) !== 0;
  // Each target's text is made only when its spec fits, as the kernel calls it.
  const lines = table.lines.map((line) => ({
    start: line.start, length: line.length, type: line.type,
    get text() { return enc.encode(asTable ? line.target.table : ima ? '' : line.target.status()); },
  }));
  const { endOffsetBytes: end, full } = writeStatusChain(s.codec.records, k.view, k.buf, OUT, len, lines, s.targetTypeCopy);
  if (full) k.flags |= DM_BUFFER_FULL_FLAG;
  if (end) k.dataSize = end;
  k.targetCount = table.lines.length;
}
