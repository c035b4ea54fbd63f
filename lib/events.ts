/**
 * Device-mapper's event model as an async iterator. Every global event (create, remove,
 * rename, table swap, any device's table event) wakes the client's shared poller; the
 * stream then takes one DM_LIST_DEVICES snapshot (names, uuids, per-device event_nr) and
 * compares it with the previous one, device by device (by major:minor):
 *
 *   added    a device that was not there before
 *   removed  a device that is gone
 *   renamed  same device number, new name or uuid (`oldName`, `oldUuid`)
 *   changed  the device's event_nr moved; `delta` is by how much since last seen
 *
 * Everything between two polls is coalesced per device. Limits (documented): a device
 * created and removed between two polls is not seen; a device removed and another created
 * with the same minor between two polls looks like a rename.
 */
import type { DevNo, ListedDevice } from '../codec/index.js';
import { DmAbortError } from './errors.js';

export type DeviceEventKind = 'added' | 'removed' | 'renamed' | 'changed';

export interface DeviceEvent {
  readonly kind: DeviceEventKind;
  readonly name: string;
  readonly uuid: string | null | undefined;
  readonly dev: DevNo;
  /** The device's event number as last seen. */
  readonly eventNr: number | undefined;
  /** How far event_nr moved since the previous snapshot (0 unless `changed`). */
  readonly delta: number;
  /** For `renamed`: the previous name and uuid. */
  readonly oldName?: string;
  readonly oldUuid?: string | null | undefined;
}

export interface EventFilter {
  /** Only devices whose (new or old) name starts with this. */
  readonly namePrefix?: string;
  /** Only devices whose uuid starts with this. */
  readonly uuidPrefix?: string;
  /** Only these kinds. */
  readonly kinds?: readonly DeviceEventKind[];
  /** Any other test. */
  readonly test?: (e: DeviceEvent) => boolean;
}

export interface EventsOptions {
  readonly signal?: AbortSignal;
  readonly filter?: EventFilter;
  /**
   * true (default): while the iterator is open it keeps the process alive (a poll is
   * parked on one libuv pool thread). false: it does not; it then checks for events on
   * an unref'd timer every `pollIntervalMs` with a non-blocking poll instead.
   */
  readonly ref?: boolean;
  readonly pollIntervalMs?: number;
}

/** Compares two LIST snapshots; the events, in name order. */
export function diffSnapshots(before: ReadonlyMap<string, ListedDevice>, after: readonly ListedDevice[]): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  const seen = new Set<string>();
  for (const d of after) {
    const key = `${d.dev.major}:${d.dev.minor}`;
    seen.add(key);
    const old = before.get(key);
    const base = { name: d.name, uuid: d.uuid, dev: d.dev, eventNr: d.eventNr };
    if (!old) {
      out.push({ kind: 'added', ...base, delta: 0 });
      continue;
    }
    if (old.name !== d.name || (old.uuid !== d.uuid && d.uuid !== undefined)) {
      out.push({ kind: 'renamed', ...base, delta: 0, oldName: old.name, oldUuid: old.uuid });
    }
    if (d.eventNr !== undefined && old.eventNr !== undefined && d.eventNr !== old.eventNr) {
      out.push({ kind: 'changed', ...base, delta: (d.eventNr - old.eventNr) >>> 0 });
    }
  }
  for (const [key, old] of before) {
    if (!seen.has(key)) out.push({ kind: 'removed', name: old.name, uuid: old.uuid, dev: old.dev, eventNr: old.eventNr, delta: 0 });
  }
  return out;
}

export function snapshotMap(list: readonly ListedDevice[]): Map<string, ListedDevice> {
  return new Map(list.map((d) => [`${d.dev.major}:${d.dev.minor}`, d]));
}

export function matches(e: DeviceEvent, f: EventFilter | undefined): boolean {
  if (!f) return true;
  if (f.kinds && !f.kinds.includes(e.kind)) return false;
  if (f.namePrefix !== undefined && !e.name.startsWith(f.namePrefix) && !(e.oldName ?? '').startsWith(f.namePrefix)) return false;
  if (f.uuidPrefix !== undefined && !(e.uuid ?? '').startsWith(f.uuidPrefix)) return false;
  return f.test ? f.test(e) : true;
}

/** An abortable sleep whose timer does not keep the process alive. */
export function unrefSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    t.unref?.();
    const onAbort = () => { clearTimeout(t); reject(new DmAbortError(signal?.reason)); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
