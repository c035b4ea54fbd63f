/**
 * The `--json` document of `dmctl verity format|verify|dump`: what veritysetup's text says,
 * as fields (u64 values as decimal strings, like every dmctl document).
 */
import { z } from 'zod';
import { SchemaVersionSchema, U64StringSchema } from './schemas.js';

/** `dmctl verity format|verify|dump --json`. */
export const VerityOutputSchema = z.object({
  /** The document's schema version. */
  schemaVersion: SchemaVersionSchema,
  /** The sub-verb that printed it. */
  action: z.enum(['format', 'verify', 'dump']),
  /** The hash device (its path as given). */
  hashDevice: z.string(),
  /** The superblock's UUID; null without a superblock. */
  uuid: z.string().nullable(),
  /** 1: normal; 0: the original Chrome OS format. */
  hashType: z.number().int(),
  /** Data blocks the tree covers. */
  dataBlocks: U64StringSchema,
  /** Data block size in bytes. */
  dataBlockSizeBytes: z.number().int(),
  /** The tree's hash blocks. */
  hashBlocks: U64StringSchema,
  /** Hash block size in bytes. */
  hashBlockSizeBytes: z.number().int(),
  /** The hash algorithm. */
  hashAlgorithm: z.string(),
  /** The salt in hex ("" for none). */
  salt: z.string(),
  /** The root hash in hex (format, verify); null for dump. */
  rootHash: z.string().nullable(),
  /** What veritysetup prints as "Hash device size" (null when the hash offset is not 0). */
  hashDeviceSizeBytes: U64StringSchema.nullable(),
  /** verify: true once every block and the root matched (a failure is the error document). */
  verified: z.boolean().nullable(),
});

/** dmctl `verity … --json`. */
export type DmctlVerityOutput = z.infer<typeof VerityOutputSchema>;

/** `dmctl verity open --json`: the device made (veritysetup prints nothing; this is dmctl's). */
export const VerityOpenOutputSchema = z.object({
  /** The document's schema version. */
  schemaVersion: SchemaVersionSchema,
  /** The sub-verb that printed it. */
  action: z.literal('open'),
  /** The device's name. */
  name: z.string(),
  /** Its uuid (`CRYPT-VERITY-…` as veritysetup makes it). */
  uuid: z.string(),
  /** Its major number. */
  major: z.number().int(),
  /** Its minor number. */
  minor: z.number().int(),
  /** `/dev/mapper/<name>`. */
  path: z.string(),
  /** The loop devices attached to plain files (data's first); they go with the device (autoclear). */
  loopDevices: z.array(z.string()),
});

/** `dmctl verity close --json`: what the removal did. */
export const VerityCloseOutputSchema = z.object({
  /** The document's schema version. */
  schemaVersion: SchemaVersionSchema,
  /** The sub-verb that printed it. */
  action: z.literal('close'),
  /** The device's name. */
  name: z.string(),
  /** Its uuid as it was before the close (null: it had none). */
  uuid: z.string().nullable(),
  /** true: `--deferred` and the device is still open: it is removed at its last close. false: it is gone. */
  deferred: z.boolean(),
});

/** dmctl `verity open --json`. */
export type DmctlVerityOpenOutput = z.infer<typeof VerityOpenOutputSchema>;
/** dmctl `verity close --json`. */
export type DmctlVerityCloseOutput = z.infer<typeof VerityCloseOutputSchema>;
