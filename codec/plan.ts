/**
 * What a command's request planner (codec/command-table.ts) produces: the validated header
 * fields and payload of one request, before any byte is written. The helpers here are the
 * checks every planner shares (device ids, cookies, boolean flags).
 */
import { DmCodecError } from './errors.js';
import { encodeDev } from './dev.js';
import { checkBool, checkInt, checkName, checkUuid } from './validate.js';

/** Everything a request needs besides the header: validated payload and header fields. */
export interface Plan {
  flags: number;
  eventNr: number;
  targetCount: number;
  dev: bigint;
  /** A string goes out as UTF-8, bytes exactly as given. */
  name: string | Uint8Array;
  uuid: string | Uint8Array;
  /** Payload bytes after data_start. */
  payloadBytes: number;
  /** Writes the payload at bytes[offsetBytes] (data_start). */
  writePayload?: ((view: DataView, bytes: Uint8Array, offsetBytes: number) => void) | undefined;
  /** Zero-fills the copies of caller data the planner made (table params, message text). */
  wipe?: () => void;
}

export type PlanId = Pick<Plan, 'name' | 'uuid' | 'dev'>;

/** The header's name/uuid/dev from a DeviceId: exactly one of them. */
export function idFields(id: unknown): PlanId {
  const bad = (why: string) => new DmCodecError('INVALID_DEVICE_ID', `a device is addressed by exactly one of name, uuid or dev: ${why}`, 'id');
  if (id === null || typeof id !== 'object') throw bad('got ' + String(id));
  const o = id as Record<string, unknown>;
  const given = (['name', 'uuid', 'dev'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) throw bad(given.length === 0 ? 'none given' : `got ${given.join(' and ')}`);
  if (o.name !== undefined) return { name: checkName(o.name, 'id.name'), uuid: '', dev: 0n };
  if (o.uuid !== undefined) return { name: '', uuid: checkUuid(o.uuid, 'id.uuid'), dev: 0n };
  const d = o.dev as { major?: unknown; minor?: unknown } | null;
  if (d === null || typeof d !== 'object') throw bad('dev must be { major, minor }');
  return { name: '', uuid: '', dev: encodeDev(d.major as number, d.minor as number) };
}

/** A udev cookie (event_nr of commands that generate uevents). */
export function cookie(v: unknown): number {
  return v === undefined ? 0 : checkInt(v, 'cookie', 0, 0xffffffff);
}

const NO_ID: PlanId = { name: '', uuid: '', dev: 0n };

/**
 * A plan as one object literal. Planners do not spread (`{ ...EMPTY, ...id, flags }`):
 * V8 (Node 20) takes a slow path for a spread followed by more properties, which was most
 * of a sync call's cost (bench/README.md, "Figures behind the code's comments").
 */
export function plan(flags: number, id: PlanId = NO_ID, eventNr = 0): Plan {
  return { flags, eventNr, targetCount: 0, dev: id.dev, name: id.name, uuid: id.uuid, payloadBytes: 0, writePayload: undefined };
}

export function flagIf(on: unknown, field: string, flag: number): number {
  return checkBool(on, field) ? flag : 0;
}
