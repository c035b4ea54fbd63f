/**
 * The hash algorithms a verity tree may use: the names veritysetup accepts with its OpenSSL
 * backend (cryptsetup lib/crypto_backend/crypto_openssl.c: its own names for the BLAKE2
 * digests, OpenSSL's lookup for the rest, case-insensitive) that Node's crypto computes too.
 * docs/verity.md lists them.
 */
import { createHash } from 'node:crypto';

/** cryptsetup's name (lower case) → Node's. */
const NODE_NAMES: Readonly<Record<string, string>> = {
  sha1: 'sha1', sha224: 'sha224', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512',
  'sha512-224': 'sha512-224', 'sha512-256': 'sha512-256',
  'sha3-224': 'sha3-224', 'sha3-256': 'sha3-256', 'sha3-384': 'sha3-384', 'sha3-512': 'sha3-512',
  'blake2b-512': 'blake2b512', 'blake2s-256': 'blake2s256',
  md5: 'md5', ripemd160: 'ripemd160', sm3: 'sm3', shake128: 'shake128', shake256: 'shake256',
};

/** A hash algorithm as a verity tree uses it. */
export interface VerityHash {
  /** Node's name for it (createHash). */
  readonly nodeName: string;
  /** Its digest's size in bytes (shake128 and shake256: OpenSSL's default output, 16 and 32). */
  readonly digestBytes: number;
}

/** The algorithm called `name` (any case), or undefined when veritysetup or Node lacks it. */
export function verityHash(name: string): VerityHash | undefined {
  const lower = name.toLowerCase();
  const nodeName = Object.hasOwn(NODE_NAMES, lower) ? NODE_NAMES[lower]! : undefined;
  if (nodeName === undefined) return undefined;
  try {
    return { nodeName, digestBytes: createHash(nodeName).digest().length };
  } catch {
    return undefined; // a Node built without it
  }
}

/** The names `verityHash` knows (lower case). */
export const VERITY_HASH_NAMES: readonly string[] = Object.keys(NODE_NAMES);
