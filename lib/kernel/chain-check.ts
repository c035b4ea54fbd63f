/**
 * The identity check the ioctl engine's worker runs between a chain's steps
 * (`EngineOptions.chainCheck`, ffi/engine.ts): the source text of the codec's own rule
 * (codec/identity-rule.ts), the very functions `checkReply` (lib/operations/identity.ts)
 * decides with on the main thread, with dm_ioctl's field offsets from the layout declaration.
 * ffi/ cannot import codec/ (ARCHITECTURE.md), so the rule reaches it as text from here.
 */
import { HEADER_IDENTITY_FIELDS, headerIdentityMismatch, identityMismatch } from '../../codec/identity-rule.js';
import { TRUSTED_REPLY_FIELDS } from '../../codec/reply-fields.js';
import { encodeDev } from '../../codec/dev.js';
import { HOST_ENDIANNESS } from '../../codec/endian.js';
import { DM_IOCTL_SIZE } from '../../codec/index.js';
import { DmArgumentError, type DeviceIdentity } from '../errors.js';

/**
 * The check's source from the rule's two functions. Each is bound to the name it has in this
 * build, which is also the name the other's body calls it by: a bundler that renames or
 * rewrites them (a minifier) still ships a consistent pair, whether `toString()` gives a
 * declaration, an anonymous function or an arrow.
 */
export function chainCheckSource(rule: (...a: never[]) => unknown, header: (...a: never[]) => unknown): string {
  return [
    `const ${rule.name} = (${rule.toString()});`,
    `const ${header.name} = (${header.toString()});`,
    `const F = ${JSON.stringify(HEADER_IDENTITY_FIELDS)};`,
    `return (bits, D, first, at) => ${header.name}({ name: (bits & 1) !== 0, uuid: (bits & 2) !== 0, dev: (bits & 4) !== 0 }, D, first, D, at, F);`,
  ].join('\n');
}

/** The body of a function returning `(trustedBits, data, firstOffset, replyOffset) => mismatch`. */
export const CHAIN_CHECK_SOURCE = chainCheckSource(identityMismatch, headerIdentityMismatch);

/** A chain step's trusted-field bits (1 name, 2 uuid, 4 dev) for a step of TRUSTED_REPLY_FIELDS. */
export function trustedBits(step: keyof typeof TRUSTED_REPLY_FIELDS): number {
  const f = TRUSTED_REPLY_FIELDS[step];
  return (f.name ? 1 : 0) | (f.uuid ? 2 : 0) | (f.dev ? 4 : 0);
}

/**
 * A chain's reference (IoctlRunner.runChain `reference`): a dm_ioctl header holding only the
 * expected device's name, uuid and device number where the rule reads them
 * (HEADER_IDENTITY_FIELDS), the bytes of a non-UTF-8 name or uuid where the identity has
 * them. The worker compares each checked step's reply with it as it compares two replies.
 */
export function referenceHeader(id: DeviceIdentity): Uint8Array {
  const F = HEADER_IDENTITY_FIELDS;
  const out = new Uint8Array(DM_IOCTL_SIZE);
  const put = (bytes: Uint8Array, at: number, size: number) => {
    if (bytes.length > size - 1) throw new DmArgumentError('identity', `a name or uuid of at most ${size - 1} bytes`, `${bytes.length} bytes`);
    out.set(bytes, at);
  };
  put(id.nameBytes ?? new TextEncoder().encode(id.name), F.nameOffset, F.nameSize);
  if (id.uuid) put(id.uuidBytes ?? new TextEncoder().encode(id.uuid), F.uuidOffset, F.uuidSize);
  // The low 32 bits of huge_encode_dev, in host order: what the rule compares (decodeDev reads no more).
  new DataView(out.buffer).setUint32(F.devOffset, Number(encodeDev(id.dev.major, id.dev.minor) & 0xffffffffn), HOST_ENDIANNESS === 'little');
  return out;
}
