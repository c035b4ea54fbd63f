/**
 * How dmsetup splits a device name (libdm's `dm_split_lvm_name` and dmsetup's
 * `_extract_uuid_prefix`). LVM names a device `<vg>-<lv>[-<layer>]` with each `-` inside a
 * component doubled; a `-` that is the last character is kept as it is. docs/dmctl.md,
 * "Reports".
 */

/** libdm's `_unquote`: the component starting at `from`, and where the next one starts. */
function unquote(name: string, from: number): [string, number] {
  let out = '';
  let c = from;
  while (c < name.length) {
    if (c + 1 < name.length && name[c] === '-') {
      if (name[c + 1] === '-') c++;
      else break;
    }
    out += name[c];
    c++;
  }
  return [out, c < name.length ? c + 1 : c];
}

/** The VG, LV and layer of an LVM device name; what follows the layer's end is dropped, as libdm does. */
export function splitLvmName(name: string): { vg: string; lv: string; layer: string } {
  const [vg, a] = unquote(name, 0);
  const [lv, b] = unquote(name, a);
  const [layer] = unquote(name, b);
  return { vg, lv, layer };
}

/** A uuid's subsystem: what precedes its first `-`, or nothing when it has none. */
export function uuidSubsystem(uuid: string): string {
  const i = uuid.indexOf('-');
  return i < 0 ? '' : uuid.slice(0, i);
}
