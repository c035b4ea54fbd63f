/**
 * The `dmctl --json` output schemas. Every JSON document dmctl prints is produced by
 * `schema.parse(value)` with one of these, so the schema is the contract; they are
 * exported from the package (`import { DmctlSchemas } from 'devicemapper'`).
 *
 * Conventions: names and uuids are unmangled (as dmsetup prints them); a missing uuid is
 * `null`; u64 values (sector starts and lengths) are decimal strings, exact for every value
 * up to 2^64 - 1 (a JSON number is a double, exact only below 2^53: `BigInt(s)` reads them
 * back); versions are `[major, minor, patch]`. Schema version: `DMCTL_JSON_VERSION`; fields
 * are only ever added, and a changed type bumps it (2: sectors became decimal strings).
 */
import { z } from 'zod';

/** The version of dmctl's `--json` documents; a changed field type bumps it. */
export const DMCTL_JSON_VERSION = 2;

/** A u64 as a decimal string without leading zeros: "0" … "18446744073709551615". */
export const U64StringSchema = z.string().refine(
  (s) => /^(?:0|[1-9][0-9]{0,19})$/.test(s) && BigInt(s) <= 0xffffffffffffffffn,
  'a u64 as a decimal string without leading zeros, at most 18446744073709551615',
);

const version = z.tuple([z.number().int(), z.number().int(), z.number().int()]);
const devno = { major: z.number().int().nonnegative(), minor: z.number().int().nonnegative() };

/** One table or status line (u64 values as decimal strings). */
export const TargetLineSchema = z.object({
  /** Sectors, a u64 as a decimal string. */
  start: U64StringSchema,
  /** Sectors, a u64 as a decimal string. */
  length: U64StringSchema,
  type: z.string(),
  params: z.string(),
});

/** One device as `info` reports it (the fields of dmsetup's long info). */
export const DmctlDeviceInfoSchema = z.object({
  name: z.string(),
  uuid: z.string().nullable(),
  ...devno,
  state: z.enum(['ACTIVE', 'SUSPENDED']),
  readOnly: z.boolean(),
  deferredRemove: z.boolean(),
  /** Sectors; null when the kernel has no block device for it yet (no table loaded). */
  readAhead: z.number().int().nullable(),
  tablesPresent: z.object({ live: z.boolean(), inactive: z.boolean() }),
  openCount: z.number().int(),
  eventNr: z.number().int().nonnegative(),
  targetCount: z.number().int().nonnegative(),
});

/** dmctl `version --json`. */
export const VersionOutputSchema = z.object({
  library: z.string(),
  driver: z.string(),
  driverVersion: version,
});

/** dmctl `targets --json`. */
export const TargetsOutputSchema = z.object({
  targets: z.array(z.object({ name: z.string(), version })),
});

/** One device of dmctl `ls --json`. */
export const ListedDeviceSchema = z.object({
  name: z.string(),
  ...devno,
  uuid: z.string().nullable(),
  eventNr: z.number().int().nonnegative().nullable(),
});

/** One node of dmctl `ls --tree --json`: a device and what it depends on. */
export interface TreeNodeJson {
  name: string | null;
  major: number;
  minor: number;
  children: TreeNodeJson[];
}
/** One node of dmctl `ls --tree --json`. */
export const TreeNodeSchema: z.ZodType<TreeNodeJson> = z.lazy(() => z.object({
  /** null for a device that is not a mapped device (a loop device, a disk). */
  name: z.string().nullable(),
  ...devno,
  children: z.array(TreeNodeSchema),
}));

/** dmctl `ls --json`. */
export const LsOutputSchema = z.object({
  devices: z.array(ListedDeviceSchema),
  /** With --tree: the mapped devices that nothing else uses, each with what it uses below it. */
  tree: z.array(TreeNodeSchema).optional(),
});

/** dmctl `info --json`. */
export const InfoOutputSchema = z.object({ devices: z.array(DmctlDeviceInfoSchema) });

/** dmctl `table --json`. */
export const TableOutputSchema = z.object({
  devices: z.array(z.object({ name: z.string(), targets: z.array(TargetLineSchema) })),
});
/** dmctl `status --json` (the same shape as `table`). */
export const StatusOutputSchema = TableOutputSchema;

/** dmctl `deps --json`. */
export const DepsOutputSchema = z.object({
  devices: z.array(z.object({
    name: z.string(),
    deps: z.array(z.object({ ...devno, name: z.string().nullable() })),
  })),
});

/** dmctl `message --json`: the target's response, if any. */
export const MessageOutputSchema = z.object({ name: z.string(), response: z.string().nullable() });

/** dmctl `wait --json`: the event number reached. */
export const WaitOutputSchema = z.object({ name: z.string(), eventNr: z.number().int().nonnegative(), targets: z.array(TargetLineSchema) });

/** What the verbs that change something print with --json. */
export const ResultOutputSchema = z.object({
  verb: z.string(),
  ok: z.literal(true),
  devices: z.array(z.object({
    name: z.string(),
    uuid: z.string().nullable(),
    major: z.number().int().nonnegative().nullable(),
    minor: z.number().int().nonnegative().nullable(),
    /** remove: true when the kernel deferred the removal to the last close. */
    deferred: z.boolean().optional(),
    /** What happened to /dev/mapper/<name> (see lib/nodes.ts). */
    node: z.enum(['created', 'exists', 'removed', 'absent', 'renamed', 'udev', 'fallback']).optional(),
  })),
});

/** dmctl `mknodes --json`: what was done to `/dev/mapper`. */
export const MknodesOutputSchema = z.object({
  nodes: z.array(z.object({ path: z.string(), action: z.enum(['created', 'exists', 'removed', 'absent', 'renamed', 'udev', 'fallback']) })),
});

/** `--dry-run --json`: the requests that would be sent. */
export const DryRunOutputSchema = z.object({
  requests: z.array(z.object({
    ioctl: z.string(),
    command: z.string(),
    /** The ioctl request number, e.g. "0xc138fd07". */
    request: z.string(),
    /** Total size of the buffer handed to the kernel (data_size). */
    size: z.number().int(),
    /** Hex of the meaningful bytes (header and payload; the rest is zero). */
    hex: z.string(),
    fields: z.array(z.object({ offset: z.number().int(), size: z.number().int(), field: z.string(), value: z.string() })),
  })),
});

/** `dmctl decode`: the reply decoded by the codec, with the raw header. 64-bit values are decimal strings. */
export const DecodeOutputSchema = z.object({
  command: z.string(),
  ioctl: z.string(),
  header: z.record(z.string(), z.unknown()),
  reply: z.record(z.string(), z.unknown()),
});

/** Printed on stderr with --json when a verb fails. */
export const ErrorOutputSchema = z.object({
  error: z.object({
    /** errno name (ENXIO, EBUSY, …), a DmCodecError/ffi code, or USAGE. */
    code: z.string(),
    message: z.string(),
    /** The client command (load, info, …) when an ioctl failed. */
    command: z.string().nullable(),
    device: z.string().nullable(),
    kernelLog: z.array(z.string()),
    hint: z.string().nullable(),
  }),
});

/** The zod schema of each dmctl verb's `--json` output, by verb. */
export const DmctlSchemas = {
  version: VersionOutputSchema,
  targets: TargetsOutputSchema,
  ls: LsOutputSchema,
  info: InfoOutputSchema,
  table: TableOutputSchema,
  status: StatusOutputSchema,
  deps: DepsOutputSchema,
  message: MessageOutputSchema,
  wait: WaitOutputSchema,
  result: ResultOutputSchema,
  mknodes: MknodesOutputSchema,
  dryRun: DryRunOutputSchema,
  decode: DecodeOutputSchema,
  error: ErrorOutputSchema,
} as const;

/** One device of dmctl `info --json`. */
export type DmctlDeviceInfo = z.infer<typeof DmctlDeviceInfoSchema>;
/** One table or status line of dmctl's `--json` output (u64 values as decimal strings). */
export type DmctlTargetLine = z.infer<typeof TargetLineSchema>;
/** dmctl `info --json`. */
export type DmctlInfoOutput = z.infer<typeof InfoOutputSchema>;
/** dmctl `ls --json`. */
export type DmctlLsOutput = z.infer<typeof LsOutputSchema>;
/** The error document dmctl `--json` prints on stderr. */
export type DmctlErrorOutput = z.infer<typeof ErrorOutputSchema>;
