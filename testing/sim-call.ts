/**
 * One ioctl as the simulated kernel's handlers see it: `Call`, the kernel's private copy of
 * the buffer with the header fields by name (offsets from codec/records.ts); `SimCore`, what a
 * handler may see and do of the kernel; and the lossless byte form of names (`simKey`).
 */
import { dmIoctl, DM_NAME_LEN, DM_UUID_LEN, type DmCodec, type Version } from '../codec/index.js';
import type { SimFd } from './sim-transport.js';
import type { SimBlockDevice, SimTargetType } from './targets.js';
import type { SimDevice, SimTable } from './sim-model.js';

/** dm_ioctl's field offsets (codec/records.ts). */
const H = dmIoctl.offsetOf;

/** The kernel's view of one ioctl in progress: its private copy of the buffer. */
export class Call {
  constructor(readonly buf: Uint8Array, readonly view: DataView, readonly le: boolean, readonly fd: SimFd) {}
  get dataSize(): number { return this.view.getUint32(H.data_size, this.le); }
  set dataSize(v: number) { this.view.setUint32(H.data_size, v, this.le); }
  get dataStart(): number { return this.view.getUint32(H.data_start, this.le); }
  set dataStart(v: number) { this.view.setUint32(H.data_start, v, this.le); }
  get flags(): number { return this.view.getUint32(H.flags, this.le); }
  set flags(v: number) { this.view.setUint32(H.flags, v >>> 0, this.le); }
  get eventNr(): number { return this.view.getUint32(H.event_nr, this.le); }
  set eventNr(v: number) { this.view.setUint32(H.event_nr, v, this.le); }
  set openCount(v: number) { this.view.setInt32(H.open_count, v, this.le); }
  get targetCount(): number { return this.view.getUint32(H.target_count, this.le); }
  set targetCount(v: number) { this.view.setUint32(H.target_count, v, this.le); }
  get dev(): bigint { return this.view.getBigUint64(H.dev, this.le); }
  set dev(v: bigint) { this.view.setBigUint64(H.dev, v, this.le); }
  /** A C string of at most `max` bytes at `off`, as its simKey (lossless). */
  key(off: number, max: number): string {
    let end = off;
    while (end < off + max && this.buf[end] !== 0) end++;
    return simKey(this.buf.subarray(off, end));
  }
  get name(): string { return this.key(H.name, DM_NAME_LEN); }
  get uuid(): string { return this.key(H.uuid, DM_UUID_LEN); }
  set name(key: string) { this.setString(H.name, DM_NAME_LEN, key); }
  set uuid(key: string) { this.setString(H.uuid, DM_UUID_LEN, key); }
  /** strscpy of a simKey's bytes. */
  setString(off: number, max: number, key: string): void {
    const b = keyBytes(key);
    this.buf.fill(0, off, off + max);
    this.buf.set(b.subarray(0, max - 1), off);
  }
}

/** A command's handler: 0 or an errno; `size` is the request's data_size as copy_params() took it. */
export type Handler = (k: Call, size: number) => number;

/** What the command handlers and the table code see and do of the kernel (simulator.ts builds it over its state). */
export interface SimCore {
  readonly version: Version;
  readonly major: number;
  readonly devices: Map<string, SimDevice>;
  readonly blockDevices: SimBlockDevice[];
  readonly codec: DmCodec;
  readonly le: boolean;
  /** Known target types, by name. */
  readonly targets: Map<string, SimTargetType>;
  /** Loaded target modules, most recently loaded first. */
  readonly loaded: string[];
  readonly targetTypeCopy: 'strncpy' | 'strscpy_pad';
  readonly globalEventNr: number;
  /** Records the device this call looked up, created or renamed (for interceptors and uevents). */
  touch(d: SimDevice): void;
  /** __find_device_hash_cell(): uuid first, then name, then dev; writes name and uuid back. */
  lookup(k: Call): SimDevice;
  /** __dev_status(): the header fields every device reply carries. */
  devStatus(d: SimDevice, k: Call): void;
  destroy(d: SimDevice): void;
  released(t: SimTable | undefined): void;
  tableEvent(d: SimDevice): void;
  globalEvent(): void;
  notify(): void;
  logLine(text: string): void;
  openTotal(d: SimDevice): number;
}

/** The module of target type `name` is loaded now (the kernel lists the most recently loaded first). */
export function loadModule(s: SimCore, name: string): void {
  if (!s.loaded.includes(name)) s.loaded.unshift(name);
}

const enc = new TextEncoder();
const strictDec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The simulator's lossless string form of a kernel name or uuid: the text itself when the
 * bytes are UTF-8 (so `devices.get('vol')` works), else a NUL followed by one char per
 * byte (a kernel name never holds NUL, so the two forms cannot collide). Accepts a JS
 * string (taken as UTF-8 text) or the bytes.
 */
export function simKey(v: string | Uint8Array): string {
  if (typeof v === 'string') return v;
  try { return strictDec.decode(v); } catch { return '\0' + String.fromCharCode(...v); }
}

/** The bytes a simKey stands for. */
export function keyBytes(key: string): Uint8Array {
  if (key.charCodeAt(0) !== 0) return enc.encode(key);
  const b = new Uint8Array(key.length - 1);
  for (let i = 1; i < key.length; i++) b[i - 1] = key.charCodeAt(i);
  return b;
}
