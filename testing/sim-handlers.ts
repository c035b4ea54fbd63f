/**
 * The simulated kernel's command handlers, one per command of the command table (the
 * compiler requires each): what dm-ioctl.c's handler does with the call's copy of the buffer,
 * as measured on 4.43–4.50 (docs/kernel-facts.md). simulator.ts dispatches to them after
 * ctl_ioctl()'s common checks.
 */
import {
  decodeDev, encodeDev, dmNameList, dmTargetDeps, dmTargetMsg, dmTargetVersions, DM_DATA_START, DM_BUFFER_FULL_FLAG,
  DM_DATA_OUT_FLAG, DM_DEFERRED_REMOVE, DM_INACTIVE_PRESENT_FLAG, DM_MIN_DATA_SIZE, DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID,
  DM_NAME_LIST_FLAG_HAS_UUID, DM_PERSISTENT_DEV_FLAG, DM_SUSPEND_FLAG, DM_UEVENT_GENERATED_FLAG, DM_UUID_FLAG,
  nameRecordSize, targetVersionRecordSize, writeCString, writeNameList, writeTargetDeps, writeTargetVersions,
  type CommandName, type NameRecord, type Version,
} from '../codec/index.js';
import { statsMessage } from './sim-stats.js';
import { SimError } from './errors.js';
import { splitArgs, type SimTargetType } from './targets.js';
import { tableDeviceOrder } from './table-devices.js';
import { keyBytes, loadModule, simKey, type Call, type Handler, type SimCore } from './sim-call.js';
import { readTable, resultBuffer, retrieveStatus, tableOf } from './sim-tables.js';
import type { SimDevice } from './sim-model.js';

/** Where a payload-returning command writes (get_result_buffer(): data_start = the aligned header). */
const OUT = DM_DATA_START;
const NL = dmNameList.offsetOf;
const DEPS = dmTargetDeps.offsetOf;
const MSG = dmTargetMsg.offsetOf;
const enc = new TextEncoder();
const dec = new TextDecoder();


export function commandHandlers(s: SimCore): Record<CommandName, Handler> {
  return {
    version: () => 0,

    removeAll: (k) => {
      const deferred = (k.flags & DM_DEFERRED_REMOVE) !== 0;
      let skipped = 0;
      // dm_hash_remove_all() starts over after every removal: a removed device closes the
      // devices below it, which may then go too (stacks come down top first).
      for (let again = true; again;) {
        again = false;
        skipped = 0;
        for (const d of [...s.devices.values()]) {
          if (s.openTotal(d) > 0) {
            skipped++;
            if (deferred) d.deferredRemove = true;
            continue;
          }
          s.destroy(d);
          again = true;
          break;
        }
      }
      if (skipped) s.logLine(`ioctl: remove_all left ${skipped} open device(s)`);
      k.dataSize = 0; // nothing but the version is copied back
      return 0;
    },

    listDevices: (k, size) => {
      const filters = s.version[1] >= 45;
      const trailer = s.version[1] >= 37;
      const withUuid = filters && (k.flags & DM_UUID_FLAG) !== 0;
      const namePrefix = filters ? k.name : '';
      const uuidPrefix = filters ? k.uuid : '';
      let devs = [...s.devices.values()].filter((d) =>
        startsWith(d.name, namePrefix) && (uuidPrefix === '' || startsWith(d.uuid ?? '', uuidPrefix)));
      if (filters) devs = devs.sort((a, b) => Buffer.compare(keyBytes(a.name), keyBytes(b.name))); // rb-tree walk (bytes)
      else devs = hashOrder(devs);
      const records: NameRecord[] = devs.map((d) => ({
        dev: encodeDev(s.major, d.minor),
        name: keyBytes(d.name),
        // 4.37–4.44 write the event_nr only: the flags word keeps whatever the caller's
        // buffer held (measured on 5.10, dm 4.43; docs/kernel-facts.md).
        trailer: trailer ? {
          eventNr: d.eventNr,
          flags: !filters ? undefined : !withUuid ? 0 : d.uuid ? DM_NAME_LIST_FLAG_HAS_UUID : DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID,
          uuid: withUuid && d.uuid ? keyBytes(d.uuid) : undefined,
        } : undefined,
      }));
      // Before 4.37 the kernel checks an over-estimate: sizeof(struct dm_name_list) + name + NUL + 7.
      const needed = records.reduce((n, r) => n + (trailer ? nameRecordSize(r) : dmNameList.size + r.name.length + 1 + 7), 0);
      const len = resultBuffer(k, size);
      if (len < needed || len < NL.next) { k.flags |= DM_BUFFER_FULL_FLAG; return 0; }
      k.dataSize = OUT + needed;
      writeNameList(s.codec.records, k.view, k.buf, OUT, records);
      return 0;
    },

    create: (k) => {
      const name = k.name;
      checkName(name);
      const uuid = k.uuid || undefined;
      if (s.devices.has(name) || (uuid && [...s.devices.values()].some((d) => d.uuid === uuid))) {
        throw new SimError('EBUSY', `ioctl: device ${name} already exists`);
      }
      let minor: number;
      if (k.flags & DM_PERSISTENT_DEV_FLAG) {
        minor = decodeDev(k.dev).minor;
        // alloc_dev() returns NULL for any failure, so dm_create() reports ENXIO (measured on 4.47).
        if (minor >= 1 << 20) throw new SimError('ENXIO', 'ioctl: minor out of range');
        if ([...s.devices.values()].some((d) => d.minor === minor)) throw new SimError('ENXIO', `ioctl: minor ${minor} in use`);
      } else {
        const used = new Set([...s.devices.values()].map((d) => d.minor));
        minor = 0;
        while (used.has(minor)) minor++;
      }
      const d: SimDevice = {
        name, uuid, minor, openCount: 0, eventNr: 0, suspended: false, live: undefined, inactive: undefined,
        // Before 5.15 (dm 4.45, "dm: delay registering the gendisk") alloc_dev() added the disk at
        // create, so removing a device that never had a table still sends a uevent (measured on
        // 4.43: DM_UEVENT_GENERATED_FLAG set; 4.47+: clear). docs/kernel-facts.md.
        deferredRemove: false, diskAdded: s.version[1] < 45, geometry: undefined, stats: new Map(),
      };
      s.devices.set(name, d);
      s.touch(d);
      s.devStatus(d, k);
      return 0;
    },

    remove: (k) => {
      const d = s.lookup(k);
      if (s.openTotal(d) > 0) {
        if (k.flags & DM_DEFERRED_REMOVE) { d.deferredRemove = true; return 0; } // flag stays set: deferred
        throw new SimError('EBUSY', `ioctl: unable to remove open device ${d.name}`);
      }
      s.destroy(d);
      k.flags &= ~DM_DEFERRED_REMOVE;
      if (d.diskAdded) k.flags |= DM_UEVENT_GENERATED_FLAG;
      return 0;
    },

    rename: (k, size) => {
      const changeUuid = (k.flags & DM_UUID_FLAG) !== 0;
      const start = k.dataStart;
      let nul = start;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (start < DM_MIN_DATA_SIZE || nul >= size || nul === start) throw new SimError('EINVAL', 'ioctl: Invalid new mapped device name or uuid string supplied.');
      const next = simKey(k.buf.subarray(start, nul));
      if (nul - start > (changeUuid ? 128 : 127)) throw new SimError('EINVAL', 'ioctl: new name or uuid too long');
      if (!changeUuid) checkName(next);
      const taken = changeUuid ? [...s.devices.values()].some((d) => d.uuid === next) : s.devices.has(next);
      if (taken) throw new SimError('EBUSY', `ioctl: Unable to change ${changeUuid ? 'uuid' : 'name'} on mapped device ${k.name} to one that already exists: ${next}`);
      const d = s.devices.get(k.name); // by name only (measured: a uuid gives ENXIO)
      if (!d) throw new SimError('ENXIO', `ioctl: Unable to rename non-existent device, ${k.name} to ${changeUuid ? 'uuid ' : ''}${next}`);
      s.touch(d);
      if (changeUuid && d.uuid) throw new SimError('EINVAL', `ioctl: Unable to change uuid of mapped device ${d.name} to ${next} because uuid is already set to ${d.uuid}`);
      if (changeUuid) d.uuid = next;
      else { s.devices.delete(d.name); d.name = next; s.devices.set(next, d); }
      if (d.live) s.tableEvent(d);
      if (d.diskAdded) k.flags |= DM_UEVENT_GENERATED_FLAG;
      s.devStatus(d, k);
      return 0;
    },

    suspend: (k) => {
      const d = s.lookup(k);
      if (k.flags & DM_SUSPEND_FLAG) {
        d.suspended = true;
      } else {
        let wasSuspended = d.suspended;
        if (d.inactive) {
          wasSuspended = true; // do_resume() suspends before swapping
          const old = d.live;
          d.live = d.inactive;
          d.inactive = undefined;
          s.released(old);
          k.flags &= ~DM_INACTIVE_PRESENT_FLAG;
          s.globalEvent(); // dm_swap_table()
        }
        d.suspended = false;
        queueMicrotask(() => s.notify()); // I/O waiting on this device goes on (a parked remove)
        for (const l of d.live?.lines ?? []) l.target.resume?.();
        if (wasSuspended && d.diskAdded) k.flags |= DM_UEVENT_GENERATED_FLAG;
      }
      s.devStatus(d, k);
      return 0;
    },

    info: (k) => {
      s.devStatus(s.lookup(k), k);
      return 0;
    },

    wait: (k, size) => {
      const d = s.lookup(k);
      s.devStatus(d, k);
      const t = tableOf(d, k);
      if (t) retrieveStatus(s, t, k, size);
      return 0;
    },

    load: (k, size) => {
      const d = s.lookup(k);
      const table = readTable(s, k, size, d);
      const old = d.inactive;
      d.inactive = table;
      s.released(old);
      d.diskAdded = true;
      k.flags |= DM_INACTIVE_PRESENT_FLAG;
      s.devStatus(d, k);
      return 0;
    },

    clear: (k) => {
      const d = s.lookup(k);
      const old = d.inactive;
      d.inactive = undefined;
      s.released(old);
      k.flags &= ~DM_INACTIVE_PRESENT_FLAG;
      s.devStatus(d, k);
      return 0;
    },

    deps: (k, size) => {
      const d = s.lookup(k);
      s.devStatus(d, k);
      const t = tableOf(d, k);
      if (!t) return 0;
      // The table's device list, newest first (retrieve_deps(): docs/kernel-facts.md).
      const devs = tableDeviceOrder(t.lines.flatMap((l) => l.target.deps), (b) => `${b.major}:${b.minor}`);
      const needed = DEPS.dev + 8 * devs.length;
      const len = resultBuffer(k, size);
      if (len < needed) { k.flags |= DM_BUFFER_FULL_FLAG; return 0; }
      k.dataSize = writeTargetDeps(s.codec.records, k.view, k.buf, OUT, devs.map((b) => encodeDev(b.major, b.minor)));
      return 0;
    },

    status: (k, size) => {
      const d = s.lookup(k);
      s.devStatus(d, k);
      const t = tableOf(d, k);
      if (t) retrieveStatus(s, t, k, size);
      return 0;
    },

    listVersions: (k, size) => listVersions(s, k, size, [...loadedTypes(s)]),

    message: (k, size) => {
      const d = s.lookup(k);
      const start = k.dataStart;
      if (start < DM_MIN_DATA_SIZE || start + MSG.message + 1 > size) throw new SimError('EINVAL', 'ioctl: Invalid parameters for message');
      let nul = start + MSG.message;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (nul >= size) throw new SimError('EINVAL', 'ioctl: Invalid parameters for message');
      const sector = k.view.getBigUint64(start + MSG.sector, s.le);
      const argv = splitArgs(dec.decode(k.buf.subarray(start + MSG.message, nul)));
      if (argv.length === 0) throw new SimError('EINVAL', 'ioctl: Empty message received.');
      let output: string | undefined;
      if (argv[0]!.startsWith('@')) {
        // Core messages work without a table (measured: @stats_list on a tableless device).
        if (argv[0] === '@cancel_deferred_remove' && argv.length === 1) {
          d.deferredRemove = false; // a no-op when none was scheduled (dm_cancel_deferred_remove)
        } else if (argv[0]!.startsWith('@stats_')) {
          output = statsMessage(d.stats, d.live ? d.live.lines.reduce((n, l) => n + l.length, 0n) : 0n, argv);
        } else {
          throw new SimError('EINVAL', `ioctl: Unsupported message sent to DM core: ${argv[0]}`);
        }
      } else {
        // Measured on 4.47/4.48: no live table gives EINVAL (a source reading says 2).
        if (!d.live) throw new SimError('EINVAL', 'ioctl: The device has no table.');
        const line = d.live.lines.find((l) => sector >= l.start && sector < l.start + l.length);
        if (!line) throw new SimError('EINVAL', 'ioctl: Target message sector outside device.');
        if (!line.target.message) throw new SimError('EINVAL', 'ioctl: Target type does not support messages');
        output = line.target.message(argv);
      }
      s.devStatus(d, k); // measured: a message reply carries the device's header fields
      if (output !== undefined) {
        k.flags |= DM_DATA_OUT_FLAG;
        const maxlen = resultBuffer(k, size);
        const bytes = enc.encode(output);
        if (maxlen === 0 || bytes.length + 1 >= maxlen) k.flags |= DM_BUFFER_FULL_FLAG;
        else k.dataSize = writeCString(k.buf, OUT, bytes);
      }
      return 0;
    },

    setGeometry: (k, size) => {
      const d = s.lookup(k);
      const start = k.dataStart;
      let nul = start;
      while (nul < size && k.buf[nul] !== 0) nul++;
      if (start < DM_MIN_DATA_SIZE || nul >= size) throw new SimError('EINVAL', 'ioctl: Invalid geometry supplied.');
      const parts = dec.decode(k.buf.subarray(start, nul)).trim().split(/\s+/);
      // sscanf("%lu %lu %lu %lu") into unsigned longs: u64 on 64-bit kernels, kept exact here.
      const nums = parts.map((p) => (/^\d+$/.test(p) && p.replace(/^0+/, '').length <= 20 ? BigInt(p) : -1n));
      if (nums.length !== 4 || nums.some((n) => n < 0n || n > 0xffffffffffffffffn)) throw new SimError('EINVAL', 'ioctl: Unable to interpret geometry settings.');
      const [c, h, sec, st] = nums as [bigint, bigint, bigint, bigint];
      if (c > 65535n || h > 255n || sec > 255n) throw new SimError('EINVAL', 'ioctl: Geometry exceeds range limits.');
      // dm_set_geometry (drivers/md/dm.c): the start must lie within cylinders × heads × sectors.
      if (st > c * h * sec) throw new SimError('EINVAL', 'core: Start sector is beyond the geometry limits.');
      d.geometry = nums.join(' ');
      k.dataSize = 0;
      return 0;
    },

    armPoll: (k) => {
      k.fd.armedEventNr = s.globalEventNr;
      return 0;
    },

    getTargetVersion: (k, size) => {
      const t = s.targets.get(k.name);
      if (!t) throw new SimError('EINVAL', `ioctl: target ${k.name} not found`);
      loadModule(s, t.name); // dm_get_target_type() autoloads the module
      return listVersions(s, k, size, [t]);
    },
  };
}


/** Loaded target types, most recently loaded first (the kernel's list order). */
function* loadedTypes(s: SimCore): Iterable<SimTargetType> {
  for (const name of s.loaded) {
    const t = s.targets.get(name);
    if (t) yield t;
  }
}

/** __list_versions(): over-estimated size check, then records chained from each record. */
function listVersions(s: SimCore, k: Call, size: number, types: SimTargetType[]): number {
  // sizeof(struct dm_target_versions) + name + NUL + 7: the kernel's over-estimate.
  const needed = types.reduce((n, t) => n + dmTargetVersions.size + enc.encode(t.name).length + 1 + 7, 0);
  const len = resultBuffer(k, size);
  if (len < needed) { k.flags |= DM_BUFFER_FULL_FLAG; return 0; }
  // Up to 4.48 data_size is the over-estimate; 4.50 reports the records' aligned end
  // (measured: listVersions 430 vs 408 bytes for the same four targets; 4.49 unmeasured).
  const list = types.map((t) => ({ name: enc.encode(t.name), version: t.version as Version }));
  const exact = list.reduce((n, r) => n + targetVersionRecordSize(r), 0);
  k.dataSize = OUT + (s.version[1] >= 50 ? exact : needed);
  writeTargetVersions(s.codec.records, k.view, k.buf, OUT, list);
  return 0;
}

function checkName(name: string): void {
  if (name.includes('/') || name === 'control' || name === '.' || name === '..') {
    throw new SimError('EINVAL', 'ioctl: device name cannot contain a slash or be "control", "." or ".."');
  }
}

/**
 * The order of LIST_DEVICES before 4.45: the kernel walks its 64 name-hash buckets in
 * order, each bucket newest first (list_add at the head). hash_str() of dm-ioctl.c; a rename
 * re-adds the device at the head of its new bucket, which the device map's re-insertion
 * models. Only the hash's low 6 bits count, and they do not depend on whether the kernel's
 * `char` is signed (a sign extension adds a multiple of 256), so unsigned bytes give the
 * same buckets on every architecture (docs/kernel-facts.md).
 */
function hashOrder(devs: SimDevice[]): SimDevice[] {
  const bucket = (name: string): number => {
    let h = 0;
    for (const byte of keyBytes(name)) h = Math.imul((h + byte) >>> 0, 2654435387) >>> 0;
    return h & 63;
  };
  return devs.map((d, i) => ({ d, i, b: bucket(d.name) })).sort((x, y) => x.b - y.b || y.i - x.i).map((x) => x.d);
}

/** filter_device(): a byte-wise prefix match of two simKeys. */
function startsWith(key: string, prefix: string): boolean {
  const k = keyBytes(key);
  const p = keyBytes(prefix);
  return p.length <= k.length && p.every((c, i) => k[i] === c);
}
