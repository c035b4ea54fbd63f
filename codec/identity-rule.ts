/**
 * The identity rule of multi-step operations as code with no outside references, so that the
 * same functions run on the main thread (lib/operations/identity.ts `checkReply`, over decoded
 * replies) and in the ioctl engine's worker (ffi/engine.ts, over the reply bytes of a chain's
 * steps, shipped there as their source text): one implementation, not two. docs/identity.md.
 *
 * Both functions are self-contained on purpose (no imports, no module-level names, nothing but
 * their arguments and each other): `Function.prototype.toString` of them must be a complete
 * program in the worker.
 */
import { dmIoctl } from './records.js';
import { HOST_ENDIANNESS } from './endian.js';
import type { TRUSTED_REPLY_FIELDS } from './reply-fields.js';

/** Which header fields of a step's reply the kernel wrote for the device (a row of TRUSTED_REPLY_FIELDS). */
export type TrustedFields = (typeof TRUSTED_REPLY_FIELDS)[keyof typeof TRUSTED_REPLY_FIELDS];

/** The field that named another device: 1 uuid, 2 dev, 3 name; 0 none. */
export type IdentityMismatch = 0 | 1 | 2 | 3;

/**
 * The rule: the uuid and dev are compared wherever the kernel filled them for this step; the
 * name only when the expected device has no uuid (with one, a rename by someone else does not
 * make it another device). `differs(field)` compares one field (1 uuid, 2 dev, 3 name) in the
 * caller's representation. Returns the first field that differs, or 0.
 */
export function identityMismatch(
  trusted: { readonly name: boolean; readonly uuid: boolean; readonly dev: boolean }, expectedHasUuid: boolean, differs: (field: 1 | 2 | 3) => boolean,
): IdentityMismatch {
  if (trusted.uuid && differs(1)) return 1;
  if (trusted.dev && differs(2)) return 2;
  if (trusted.name && !expectedHasUuid && differs(3)) return 3;
  return 0;
}

/** Where dm_ioctl's identity fields are: offsets and sizes from the layout declaration (records.ts). */
export interface HeaderIdentityFields {
  readonly nameOffset: number;
  readonly nameSize: number;
  readonly uuidOffset: number;
  readonly uuidSize: number;
  /**
   * The 32 bits of dev that hold the device number (huge_encode_dev: major and minor in the
   * low half of the u64; codec/dev.ts `decodeDev` reads only these), in host byte order: the
   * rest is not compared, as `decodeDev` does not read it.
   */
  readonly devOffset: number;
  readonly devSize: number;
}

function placed(name: string): { offset: number; size: number } {
  const f = dmIoctl.fields.find((x) => x.name === name);
  if (!f) throw new Error(`dm_ioctl has no field ${name}`);
  return f;
}

/** dm_ioctl's name, uuid and dev, from the declaration. */
export const HEADER_IDENTITY_FIELDS: HeaderIdentityFields = Object.freeze({
  nameOffset: placed('name').offset, nameSize: placed('name').size,
  uuidOffset: placed('uuid').offset, uuidSize: placed('uuid').size,
  // The low half of the u64: first in little-endian memory, second in big-endian.
  devOffset: placed('dev').offset + (HOST_ENDIANNESS === 'little' ? 0 : placed('dev').size / 2), devSize: placed('dev').size / 2,
});

/**
 * {@link identityMismatch} over two replies' bytes: `expected` is the header the operation's
 * first step returned (DEV_CREATE echoes the name and uuid sent; its dev is the kernel's),
 * `reply` a later step's. A `char[N]` field is compared as the codec reads it: up to its first
 * NUL within N-1 bytes (docs/kernel-facts.md, "Stale bytes"); dev as the bytes of its device
 * number (equal bytes, equal major and minor). The expected device has a uuid when its uuid's first
 * byte is not NUL.
 */
export function headerIdentityMismatch(
  trusted: { readonly name: boolean; readonly uuid: boolean; readonly dev: boolean },
  expected: Uint8Array, expectedOffset: number, reply: Uint8Array, replyOffset: number, f: HeaderIdentityFields,
): IdentityMismatch {
  const charsDiffer = (at: number, size: number): boolean => {
    for (let i = 0; i < size - 1; i++) {
      const a = expected[expectedOffset + at + i], b = reply[replyOffset + at + i];
      if (a !== b) return true;
      if (a === 0) return false;
    }
    return false;
  };
  const bytesDiffer = (at: number, size: number): boolean => {
    for (let i = 0; i < size; i++) if (expected[expectedOffset + at + i] !== reply[replyOffset + at + i]) return true;
    return false;
  };
  return identityMismatch(trusted, expected[expectedOffset + f.uuidOffset] !== 0, (field) =>
    field === 1 ? charsDiffer(f.uuidOffset, f.uuidSize) : field === 2 ? bytesDiffer(f.devOffset, f.devSize) : charsDiffer(f.nameOffset, f.nameSize));
}
