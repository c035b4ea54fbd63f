/**
 * One operation's intent record as the operation core keeps it (docs/crash-safety.md): the
 * effects the operation has or may have had that a later process would have to take back or
 * finish if this one died, each in a named slot so that a step can record it before its
 * ioctl and settle it once it is undone or no longer needs recovery. The record is written
 * through the client's IntentStore (lib/kernel/intent-store.ts) before the step it describes,
 * rewritten at every change, and removed when the operation has settled.
 */
import type { DeviceIdentity } from './identity.js';
import { intentKey, type IntentDevice, type IntentEffect, type IntentRecord, type IntentStore } from '../kernel/intent-store.js';

export type { IntentDevice, IntentEffect, IntentRecord, IntentStore };

let seq = 0;

/** The device of an identity as a record names it (name, uuid, dev; never a table or anything else). */
export function intentDevice(id: Pick<DeviceIdentity, 'name' | 'uuid'> & { readonly dev?: { readonly major: number; readonly minor: number } | undefined }): IntentDevice {
  return { name: id.name, uuid: id.uuid ?? null, ...(id.dev ? { dev: { major: id.dev.major, minor: id.dev.minor } } : {}) };
}

/** The record of a device an operation suspends (or will resume), with the flags its resume takes back. */
export function suspendedEffect(
  id: Parameters<typeof intentDevice>[0], flags: { readonly noflush?: boolean | undefined; readonly skipLockfs?: boolean | undefined },
): IntentEffect {
  return { kind: 'suspended', device: intentDevice(id), noflush: flags.noflush, skipLockfs: flags.skipLockfs };
}

/** The slot of an effect on a device: one per kind and device (by uuid, else by name). */
export function slotOf(kind: string, id: { readonly name: string; readonly uuid: string | null }): string {
  return `${kind}:${id.uuid ? `uuid=${id.uuid}` : `name=${id.name}`}`;
}

/**
 * The record of one running operation. Nothing is written until the first effect is
 * recorded (an operation that only reads leaves no trace); `record` throws when the store
 * refuses the write, so a step never runs without its record. Settling and removal are best
 * effort: a record left behind is identity-checked by recovery before anything is done.
 */
export class IntentJournal {
  readonly #store: IntentStore | undefined;
  readonly #op: string;
  readonly #slots = new Map<string, IntentEffect>();
  #key: string | undefined;
  #startedAtMs = 0;

  constructor(store: IntentStore | undefined, op: string) {
    this.#store = store;
    this.#op = op;
  }

  /** Whether `slot` holds an effect. */
  has(slot: string): boolean { return this.#slots.has(slot); }

  /** Records (or replaces) the effect in `slot` and writes the record. */
  record(slot: string, effect: IntentEffect): void {
    this.recordAll([[slot, effect]]);
  }

  /**
   * Records several effects in one write: a process killed between two writes would leave
   * a record with some of them, which recovery would then finish only in part.
   */
  recordAll(entries: readonly (readonly [string, IntentEffect])[]): void {
    if (!this.#store || entries.length === 0) return;
    const before = new Map(this.#slots);
    for (const [slot, effect] of entries) this.#slots.set(slot, effect);
    try {
      this.#write();
    } catch (e) {
      this.#slots.clear();
      for (const [k, v] of before) this.#slots.set(k, v);
      throw e;
    }
  }

  /** The effect in `slot` no longer needs recovery (undone, or made final). */
  settle(slot: string): void {
    if (!this.#store || !this.#slots.delete(slot)) return;
    try {
      if (this.#slots.size === 0) this.close();
      else this.#write();
    } catch {
      // A stale effect left in the record is identity-checked by recovery: nothing wrong is done.
    }
  }

  /** The operation has settled: its record goes. */
  close(): void {
    this.#slots.clear();
    if (!this.#store || this.#key === undefined) return;
    const key = this.#key;
    this.#key = undefined;
    try { this.#store.remove(key); } catch { /* see settle() */ }
  }

  #write(): void {
    const store = this.#store!;
    const me = store.self();
    if (this.#key === undefined) {
      this.#key = intentKey(me, seq++);
      this.#startedAtMs = Date.now();
    }
    const record: IntentRecord = { version: 1, op: this.#op, pid: me.pid, startTime: me.startTime, ...(me.pidNs ? { pidNs: me.pidNs } : {}), startedAtMs: this.#startedAtMs, effects: [...this.#slots.values()] };
    store.write(this.#key, record);
  }
}
