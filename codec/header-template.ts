/**
 * Header-only requests (no payload: the request is one `struct dm_ioctl`) written from a
 * prebuilt template instead of field by field. A DM_VERSION or DM_DEV_STATUS request is the
 * same 312 bytes every time except for flags, event_nr, dev, name and uuid; the general
 * encoder (the compiled layout) writes and range-checks all eleven fields, NUL-pads both
 * strings and zeroes every pad, which was about a third of a sync call's JS on the host
 * (bench/call-path.bench.ts). Here the template (made once per command by that same general
 * encoder) is copied in, and only the fields that differ from it are written. Offsets come
 * from the layout declaration (records.ts), never from numbers written here.
 *
 * The result is byte-for-byte what the general encoder writes (spec/codec/header-template.spec.ts
 * compares them over random and hostile plans): a value the general encoder might refuse
 * makes the writer hand the header back to it, so the error is the general encoder's own.
 */
import { DM_DATA_START, DM_IOCTL_SIZE, type Version } from './constants.js';
import type { StructCodec } from './layout.js';
import type { Plan } from './plan.js';
import { dmIoctl, DM_NAME_LEN, DM_UUID_LEN } from './records.js';
import { writeCharField } from './text.js';

type HeaderCodec = StructCodec<(typeof dmIoctl)['declared']>;

const AT = dmIoctl.offsetOf;
const U64_MAX = 0xffffffffffffffffn;
// The field names the compiled layout's errors carry (codec/layout.ts: `<struct>.<field>`).
const NAME_FIELD = `${dmIoctl.name}.name`;
const UUID_FIELD = `${dmIoctl.name}.uuid`;

/**
 * Writes a header-only request for `plan` into bytes[0, DM_IOCTL_SIZE) (`view` is over
 * `bytes`) and returns true; returns false, having written nothing, when a value is one it
 * is not sure of: the caller's general encoder then writes it or throws its own error.
 */
export type HeaderOnlyWriter = (version: Version, plan: Plan, bytes: Uint8Array, view: DataView) => boolean;

/** The writer for one header codec (one byte order). */
export function headerOnlyWriter(header: HeaderCodec): HeaderOnlyWriter {
  const le = header.endian === 'little';
  // One template per version array (each command's minVersion is one constant array).
  const templates = new Map<Version, Uint8Array>();
  const templateOf = (version: Version): Uint8Array => {
    let t = templates.get(version);
    if (!t) {
      t = new Uint8Array(DM_IOCTL_SIZE);
      header.encode(new DataView(t.buffer), t, 0, {
        version: [version[0], version[1], version[2]], data_size: DM_DATA_START, data_start: DM_DATA_START,
        target_count: 0, open_count: 0, flags: 0, event_nr: 0, padding: 0, dev: 0n, name: '', uuid: '',
      });
      templates.set(version, t);
    }
    return t;
  };
  const u32 = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v;

  return (version, plan, bytes, view) => {
    const { flags, eventNr, targetCount, dev } = plan;
    // Not a value this writer is sure of: the general encoder writes it or throws its error.
    if (!u32(flags) || !u32(eventNr) || !u32(targetCount) || typeof dev !== 'bigint' || dev < 0n || dev > U64_MAX) return false;
    bytes.set(templateOf(version));
    if (flags !== 0) view.setUint32(AT.flags, flags, le);
    if (eventNr !== 0) view.setUint32(AT.event_nr, eventNr, le);
    if (targetCount !== 0) view.setUint32(AT.target_count, targetCount, le);
    if (dev !== 0n) view.setBigUint64(AT.dev, dev, le);
    // The template holds the empty string's bytes (all zero): only a non-empty one is written.
    if (plan.name !== '') writeCharField(bytes, AT.name, plan.name, DM_NAME_LEN, NAME_FIELD);
    if (plan.uuid !== '') writeCharField(bytes, AT.uuid, plan.uuid, DM_UUID_LEN, UUID_FIELD);
    return true;
  };
}
