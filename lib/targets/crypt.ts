/**
 * crypt (dm-crypt.rst; crypt_status()). Keys are bytes: a builder writes them as hex straight
 * into the params bytes (never a JS string), parsed output redacts them unless `showKeys`.
 */
import { z } from 'zod';
import { splitOption, optNum, unhex, type Cursor, type RedactedKey } from './common.js';
import { bytesSchema, deviceSchema, posU32Schema, u64Schema, wordSchema } from './schemas.js';
import { emptyStatus, type EmptyStatus, type LineHead, type TargetUnit } from './unit.js';
import type { Bytes, DeviceRef } from './common.js';
import { defineTarget } from './define.js';

/** The kernel key types a crypt keyring reference may name. */
export const KEYRING_TYPES = ['logon', 'user', 'encrypted', 'trusted'] as const;

/** A key in the kernel keyring: `:<key_size>:<type>:<description>`. */
export interface KeyringKey {
  readonly keyring: KeyringReference;
}

/** Which keyring key a crypt table names, and its size. */
export interface KeyringReference {
  /** The key's length in bytes (the table's `<key_size>`). */
  readonly sizeBytes: number;
  readonly type: (typeof KEYRING_TYPES)[number];
  readonly description: string;
}

const keyringSchema = z.strictObject({
  keyring: z.strictObject({
    sizeBytes: posU32Schema,
    type: z.enum(KEYRING_TYPES),
    description: z.string().min(1).regex(/^\S+$/, 'must not contain whitespace'),
  }),
});

/** crypt's `integrity:<bytes>:<type>` option. */
export interface CryptIntegrity {
  /** Metadata bytes per sector kept in the bio's integrity payload (the AEAD tag, and the IV for random IVs). */
  readonly tagSizeBytes: number;
  readonly type: string;
}

/** The `crypt` target's parameters; the key is bytes or a keyring reference, never a string. */
export interface CryptParams {
  readonly cipher: string;
  /** Bytes (empty = no key, printed `-`), a keyring reference, or redacted. */
  readonly key: Uint8Array | KeyringKey | RedactedKey;
  /** The IV offset, in 512-byte sectors, added to the sector number before the IV is made (`<iv_offset>`). */
  readonly ivOffsetSectors: bigint;
  readonly device: string;
  /** Where on `device` the encrypted data starts, in 512-byte sectors (`<offset>`). */
  readonly offsetSectors: bigint;
  readonly allowDiscards?: true;
  readonly sameCpuCrypt?: true;
  readonly highPriority?: true;
  readonly submitFromCryptCpus?: true;
  readonly noReadWorkqueue?: true;
  readonly noWriteWorkqueue?: true;
  /** AEAD/integrity metadata per sector: `integrity:<bytes>:<type>`. */
  readonly integrity?: CryptIntegrity;
  /** The integrity (MAC) key's length in bytes, split off the end of the key (`integrity_key_size:<bytes>`). */
  readonly integrityKeySizeBytes?: number;
  /** Encryption sector size in bytes (512 is the default and not printed). */
  readonly sectorSizeBytes?: number;
  readonly ivLargeSectors?: true;
}

const flag = z.boolean().optional();

const FLAGS = [
  ['allowDiscards', 'allow_discards'],
  ['sameCpuCrypt', 'same_cpu_crypt'],
  ['highPriority', 'high_priority'],
  ['submitFromCryptCpus', 'submit_from_crypt_cpus'],
  ['noReadWorkqueue', 'no_read_workqueue'],
  ['noWriteWorkqueue', 'no_write_workqueue'],
] as const;

/**
 * The `crypt` target's builder input (what `buildTarget` takes besides `start`, `length`, `type`).
 * Numbers may be `number` (a safe integer) or `bigint`; devices a path, `major:minor` or numbers.
 */
export interface CryptInput {
  /** `cipher[:keycount]-chainmode-ivmode[:ivopts]` or `capi:<spec>-ivmode`. */
  readonly cipher: string;
  /** Bytes (empty = no key, printed `-`), a keyring reference, or redacted. */
  readonly key: Bytes | KeyringKey;
  /** The IV offset, in 512-byte sectors, added to the sector number before the IV is made (`<iv_offset>`). */
  readonly ivOffsetSectors: number | bigint;
  /** The device: a path, `major:minor` or `{ major, minor }`. */
  readonly device: DeviceRef;
  /** Where on `device` the encrypted data starts, in 512-byte sectors (`<offset>`). */
  readonly offsetSectors: number | bigint;
  /** `true` adds the `allow_discards` option word. */
  readonly allowDiscards?: boolean;
  /** `true` adds the `same_cpu_crypt` option word. */
  readonly sameCpuCrypt?: boolean;
  /** `true` adds the `high_priority` option word. */
  readonly highPriority?: boolean;
  /** `true` adds the `submit_from_crypt_cpus` option word. */
  readonly submitFromCryptCpus?: boolean;
  /** `true` adds the `no_read_workqueue` option word. */
  readonly noReadWorkqueue?: boolean;
  /** `true` adds the `no_write_workqueue` option word. */
  readonly noWriteWorkqueue?: boolean;
  /** AEAD/integrity metadata per sector: `integrity:<bytes>:<type>`. */
  readonly integrity?: CryptIntegrity;
  /** The integrity (MAC) key's length in bytes, split off the end of the key (`integrity_key_size:<bytes>`). */
  readonly integrityKeySizeBytes?: number;
  /** Encryption sector size in bytes (512 is the default and not printed). */
  readonly sectorSizeBytes?: number;
  /** `true` adds the `iv_large_sectors` option word. */
  readonly ivLargeSectors?: boolean;
}
/** One `crypt` table line as a builder takes it: the line head and {@link CryptInput}. */
export interface CryptTarget extends LineHead<'crypt'>, CryptInput {}

/** @internal The unit as inferred from its zod shape: spec/types/target-inputs.spec.ts checks that this shape and {@link CryptInput} agree. */
export const cryptUnit = defineTarget({
  type: 'crypt',
  shape: {
    /** `cipher[:keycount]-chainmode-ivmode[:ivopts]` or `capi:<spec>-ivmode`. */
    cipher: wordSchema,
    key: z.union([bytesSchema, keyringSchema]),
    ivOffsetSectors: u64Schema,
    device: deviceSchema,
    offsetSectors: u64Schema,
    allowDiscards: flag,
    sameCpuCrypt: flag,
    highPriority: flag,
    submitFromCryptCpus: flag,
    noReadWorkqueue: flag,
    noWriteWorkqueue: flag,
    integrity: z.strictObject({ tagSizeBytes: posU32Schema, type: z.string().regex(/^[^\s:]+$/) }).optional(),
    integrityKeySizeBytes: posU32Schema.optional(),
    sectorSizeBytes: z.number().int().min(512).max(4096).refine((n) => (n & (n - 1)) === 0, 'a power of two').optional(),
    ivLargeSectors: flag,
  },
  hasKeys: (t) => t.key instanceof Uint8Array && t.key.length > 0,
  render(t, ctx) {
    const key = t.key instanceof Uint8Array
      ? (t.key.length === 0 ? '-' : ctx.key(t.key))
      : `:${t.key.keyring.sizeBytes}:${t.key.keyring.type}:${t.key.keyring.description}`;
    const out = [t.cipher, key, String(t.ivOffsetSectors), ctx.dev(t.device, 'device'), String(t.offsetSectors)];
    const opts: string[] = [];
    for (const [k, word] of FLAGS) if (t[k]) opts.push(word);
    if (t.integrity) opts.push(`integrity:${t.integrity.tagSizeBytes}:${t.integrity.type}`);
    if (t.integrityKeySizeBytes !== undefined) opts.push(`integrity_key_size:${t.integrityKeySizeBytes}`);
    if (t.sectorSizeBytes !== undefined && t.sectorSizeBytes !== 512) opts.push(`sector_size:${t.sectorSizeBytes}`);
    if (t.ivLargeSectors) opts.push('iv_large_sectors');
    if (opts.length) out.push(String(opts.length), ...opts);
    return out;
  },
  parse(c: Cursor): CryptParams {
    const cipher = c.next('cipher');
    const k = c.next('key');
    let key: CryptParams['key'];
    if (k === '-') key = new Uint8Array(0);
    else if (k.startsWith(':')) {
      const m = /^:(\d{1,9}):([a-z]+):(.+)$/.exec(k);
      if (!m || !(KEYRING_TYPES as readonly string[]).includes(m[2]!)) c.fail('BAD_VALUE', 'key', 'not :<size>:<type>:<description>');
      key = { keyring: { sizeBytes: Number(m[1]), type: m[2] as KeyringKey['keyring']['type'], description: m[3]! } };
    } else {
      const bytes = unhex(k);
      if (!bytes) c.fail('BAD_VALUE', 'key', 'not hex');
      key = bytes;
    }
    const p: { -readonly [K in keyof CryptParams]: CryptParams[K] } = {
      cipher, key, ivOffsetSectors: c.big('ivOffsetSectors'), device: c.dev('device'), offsetSectors: c.big('offsetSectors'),
    };
    if (!c.done) {
      for (const word of c.counted('options', 64)) {
        const [name, value] = splitOption(word);
        const f = FLAGS.find(([, w]) => w === word);
        if (f) p[f[0]] = true;
        else if (name === 'integrity') {
          const [bytes, type] = splitOption(value ?? '');
          if (!type) c.fail('BAD_VALUE', 'integrity', 'not integrity:<bytes>:<type>', word);
          p.integrity = { tagSizeBytes: optNum(c, 'integrity.tagSizeBytes', bytes), type };
        } else if (name === 'integrity_key_size') p.integrityKeySizeBytes = optNum(c, 'integrityKeySizeBytes', value);
        else if (name === 'sector_size') p.sectorSizeBytes = optNum(c, 'sectorSizeBytes', value);
        else if (word === 'iv_large_sectors') p.ivLargeSectors = true;
        else c.fail('BAD_VALUE', 'options', 'unknown option', word);
      }
    }
    c.end();
    return p;
  },
  redact: (p): CryptParams => (p.key instanceof Uint8Array ? { ...p, key: { redacted: true as const, sizeBytes: p.key.length } } : p),
  defaults: (p) => {
    if (p.sectorSizeBytes !== 512) return p;
    const { sectorSizeBytes: _, ...rest } = p;
    return rest;
  },
  status: emptyStatus,
});

/** The `crypt` target: builder, table parser and status parser (key-carrying). */
export const crypt: TargetUnit<'crypt', CryptInput, CryptParams, EmptyStatus> = cryptUnit;
