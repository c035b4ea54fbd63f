/**
 * The device-mapper records declared a second time, in `restructure` — an independent
 * implementation used as a test oracle (and in the benchmark). restructure has no u64, so
 * a u64 is two u32 in host order; it has no NUL-padded char, so a char[N] is an N-byte
 * Buffer compared up to its first NUL.
 */
import * as r from 'restructure';

export type Endian = 'little' | 'big';

class U64 implements r.RType {
  constructor(private readonly le: boolean) {}
  size(): number { return 8; }
  decode(s: r.DecodeStream): bigint {
    const a = this.le ? s.readUInt32LE() : s.readUInt32BE();
    const b = this.le ? s.readUInt32LE() : s.readUInt32BE();
    const [lo, hi] = this.le ? [a, b] : [b, a];
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  encode(s: r.EncodeStream, v: bigint | number): void {
    const x = BigInt(v);
    const lo = Number(x & 0xffffffffn);
    const hi = Number(x >> 32n);
    if (this.le) { s.writeUInt32LE(lo); s.writeUInt32LE(hi); } else { s.writeUInt32BE(hi); s.writeUInt32BE(lo); }
  }
}

export function oracle(endian: Endian) {
  const le = endian === 'little';
  const u32 = le ? r.uint32le : r.uint32be;
  const s32 = le ? r.int32le : r.int32be;
  const u64 = new U64(le);
  return {
    dm_ioctl: new r.Struct({
      version: new r.Array(u32, 3),
      data_size: u32, data_start: u32, target_count: u32, open_count: s32,
      flags: u32, event_nr: u32, padding: u32, dev: u64,
      name: new r.Buffer(128), uuid: new r.Buffer(129),
      data: new r.Reserved(r.uint8, 7),
    }),
    dm_target_spec: new r.Struct({
      sector_start: u64, length: u64, status: s32, next: u32, target_type: new r.Buffer(16),
    }),
    dm_name_list: new r.Struct({ dev: u64, next: u32, tail: new r.Reserved(r.uint8, 4) }),
    dm_target_versions: new r.Struct({ next: u32, version: new r.Array(u32, 3) }),
    dm_target_deps: new r.Struct({ count: u32, padding: u32 }),
    dm_target_msg: new r.Struct({ sector: u64 }),
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // C bytes: a leading EF BB BF is data
/** A string as a NUL-padded char[n]. */
export function charBytes(s: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(enc.encode(s));
  return out;
}
/** A char[n] read back as C does: up to the first NUL (or all n bytes). */
export function charString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return dec.decode(nul < 0 ? b : b.subarray(0, nul));
}
