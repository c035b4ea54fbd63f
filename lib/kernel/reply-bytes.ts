/**
 * How far the kernel writes into a dm ioctl's buffer: the ioctl engine copies only that much
 * of a reply back (ffi/engine.ts, `EngineOptions.replyBytes`), not the whole 16 KiB slot.
 *
 * The kernel copies back `data_size` bytes of its reply and nothing else, and only on
 * success; a failed call writes back only the version, inside the header
 * (docs/kernel-facts.md, "How far a reply reaches"). Every byte past that point is the
 * caller's own request byte in the engine's slot and in the caller's buffer alike. The whole
 * header always comes back, so a reply whose `data_size` is below the header (which the
 * decoder rejects) is never read against the request's own header.
 */
import { DM_IOCTL_SIZE, dmIoctl, HOST_ENDIANNESS } from '../../codec/index.js';

const DATA_SIZE = dmIoctl.offsetOf.data_size;
const LITTLE = HOST_ENDIANNESS === 'little';

/** The bytes of `reply` (a dm_ioctl buffer after its ioctl returned `ret`) the kernel may have written. */
export function dmReplyBytes(reply: Uint8Array, ret: number): number {
  if (ret !== 0 || reply.length < DM_IOCTL_SIZE) return Math.min(DM_IOCTL_SIZE, reply.length);
  const o = DATA_SIZE;
  const dataSize = LITTLE
    ? (reply[o]! | (reply[o + 1]! << 8) | (reply[o + 2]! << 16) | (reply[o + 3]! << 24)) >>> 0
    : ((reply[o]! << 24) | (reply[o + 1]! << 16) | (reply[o + 2]! << 8) | reply[o + 3]!) >>> 0;
  return Math.min(reply.length, Math.max(DM_IOCTL_SIZE, dataSize));
}
