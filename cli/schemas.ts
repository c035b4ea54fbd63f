/**
 * The `dmctl --json` output schemas. Every JSON document dmctl prints is produced by
 * `schema.parse(value)` with one of these, so the schema is the contract; they are
 * exported from the package (`import { DmctlSchemas } from 'devicemapper'`).
 *
 * Conventions: names and uuids are unmangled (as dmsetup prints them); a missing uuid is
 * `null`; u64 values (sector starts and lengths) are decimal strings, exact for every value
 * up to 2^64 - 1 (a JSON number is a double, exact only below 2^53: `BigInt(s)` reads them
 * back); versions are `[major, minor, patch]`.
 *
 * Schema version: every document (each verb's, `--dry-run --json`, `decode`, and the error
 * document on stderr) has a top-level `schemaVersion`, equal to `DMCTL_JSON_VERSION`, so a
 * consumer can check what it reads. Fields are only ever added; a changed type bumps it
 * (2: sectors became decimal strings; 3: `schemaVersion` in every document, and `version`'s
 * `driver`/`driverVersion` may be null, with `driverError`, from `dmctl --version` without
 * device-mapper).
 */
import { z } from 'zod';

/** The version of dmctl's `--json` documents (each one's `schemaVersion`); a changed field type bumps it. */
export const DMCTL_JSON_VERSION = 3;

/** The `schemaVersion` field every top-level document carries: always {@link DMCTL_JSON_VERSION}. */
export const SchemaVersionSchema = z.literal(DMCTL_JSON_VERSION);

/** A top-level document: `schemaVersion` first, then the verb's fields. */
function documentSchema<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.object({
    /** The document's schema version: {@link DMCTL_JSON_VERSION}. */
    schemaVersion: SchemaVersionSchema,
    ...shape,
  });
}

/** A u64 as a decimal string without leading zeros: "0" … "18446744073709551615". */
export const U64StringSchema = z.string().refine(
  (s) => /^(?:0|[1-9][0-9]{0,19})$/.test(s) && BigInt(s) <= 0xffffffffffffffffn,
  'a u64 as a decimal string without leading zeros, at most 18446744073709551615',
);

const version = z.tuple([z.number().int(), z.number().int(), z.number().int()]);
const devno = {
  /** Major number. */
  major: z.number().int().nonnegative(),
  /** Minor number. */
  minor: z.number().int().nonnegative(),
};

/** One table or status line (u64 values as decimal strings). */
export const TargetLineSchema = z.object({
  /** Sectors, a u64 as a decimal string. */
  start: U64StringSchema,
  /** Sectors, a u64 as a decimal string. */
  length: U64StringSchema,
  /** The target type, e.g. `linear`. */
  type: z.string(),
  /** The target's table params or status text (keys hidden unless --showkeys). */
  params: z.string(),
});

/** One device as `info` reports it (the fields of dmsetup's long info). */
export const DmctlDeviceInfoSchema = z.object({
  /** The device's name (unmangled). */
  name: z.string(),
  /** Its uuid; null when it has none. */
  uuid: z.string().nullable(),
  ...devno,
  /** Suspended or not. */
  state: z.enum(['ACTIVE', 'SUSPENDED']),
  /** The live table is read-only. */
  readOnly: z.boolean(),
  /** Removal is scheduled for its last close. */
  deferredRemove: z.boolean(),
  /** Sectors; null when the kernel has no block device for it yet (no table loaded). */
  readAhead: z.number().int().nullable(),
  /** Which table slots hold a table. */
  tablesPresent: z.object({
    /** A live table. */
    live: z.boolean(),
    /** A loaded table waiting for resume. */
    inactive: z.boolean(),
  }),
  /** Opens of the device (-1 when the kernel does not say). */
  openCount: z.number().int(),
  /** Its event number. */
  eventNr: z.number().int().nonnegative(),
  /** Targets in its live table (the inactive one with --inactive). */
  targetCount: z.number().int().nonnegative(),
});

/** dmctl `version --json`. */
export const VersionOutputSchema = documentSchema({
  /** "devicemapper <package version> (dmctl)". */
  library: z.string(),
  /** The kernel driver's version as text ("4.48.0"); null when `dmctl --version` could not reach device-mapper. */
  driver: z.string().nullable(),
  /** The same as numbers; null with `driver`. */
  driverVersion: version.nullable(),
  /** Why the driver version is missing (only with `driver: null`). */
  driverError: z.string().optional(),
});

/** dmctl `targets --json`. */
export const TargetsOutputSchema = documentSchema({
  /** The loaded target types, in the kernel's order. */
  targets: z.array(z.object({
    /** The target type's name. */
    name: z.string(),
    /** Its version. */
    version,
  })),
});

/** One device of dmctl `ls --json`. */
export const ListedDeviceSchema = z.object({
  /** The device's name (unmangled). */
  name: z.string(),
  ...devno,
  /** Its uuid; null when it has none (or the kernel lists no uuids, before dm 4.45). */
  uuid: z.string().nullable(),
  /** Its event number; null when the kernel lists none (before dm 4.45). */
  eventNr: z.number().int().nonnegative().nullable(),
});

/** One node of dmctl `ls --tree --json`: a device and what it depends on. */
export interface TreeNodeJson {
  /** The mapped device's name; null for a device that is not one (a loop device, a disk). */
  name: string | null;
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
  /** The devices it uses. */
  children: TreeNodeJson[];
}
/** One node of dmctl `ls --tree --json`. */
export const TreeNodeSchema: z.ZodType<TreeNodeJson> = z.lazy(() => z.object({
  /** null for a device that is not a mapped device (a loop device, a disk). */
  name: z.string().nullable(),
  ...devno,
  /** The devices it uses. */
  children: z.array(TreeNodeSchema),
}));

/** dmctl `ls --json`. */
export const LsOutputSchema = documentSchema({
  /** Every device (with --target: those with a live target of that type). */
  devices: z.array(ListedDeviceSchema),
  /** With --tree: the mapped devices that nothing else uses, each with what it uses below it. */
  tree: z.array(TreeNodeSchema).optional(),
});

/** dmctl `info --json`. */
export const InfoOutputSchema = documentSchema({
  /** The devices asked for that exist (all without arguments). */
  devices: z.array(DmctlDeviceInfoSchema),
});

/** dmctl `table --json`. */
export const TableOutputSchema = documentSchema({
  /** Each device with its lines. */
  devices: z.array(z.object({
    /** The device's name. */
    name: z.string(),
    /** Its table (or status) lines. */
    targets: z.array(TargetLineSchema),
  })),
});
/** dmctl `status --json` (the same shape as `table`). */
export const StatusOutputSchema = TableOutputSchema;

/** dmctl `deps --json`. */
export const DepsOutputSchema = documentSchema({
  /** Each device with the devices its table uses. */
  devices: z.array(z.object({
    /** The device's name. */
    name: z.string(),
    /** The devices it uses. */
    deps: z.array(z.object({
      ...devno,
      /** Its name with -o devname/blkdevname, else null. */
      name: z.string().nullable(),
    })),
  })),
});

/** dmctl `message --json`: the target's response, if any. */
export const MessageOutputSchema = documentSchema({
  /** The device the message went to. */
  name: z.string(),
  /** The target's response; null when it gave none. */
  response: z.string().nullable(),
});

/** dmctl `wait --json`: the event number reached. */
export const WaitOutputSchema = documentSchema({
  /** The device waited on. */
  name: z.string(),
  /** Its event number when the wait returned. */
  eventNr: z.number().int().nonnegative(),
  /** Its status lines then. */
  targets: z.array(TargetLineSchema),
});

/** What the verbs that change something print with --json. */
export const ResultOutputSchema = documentSchema({
  /** The verb that ran. */
  verb: z.string(),
  /** Always true: a failure prints the error document instead. */
  ok: z.literal(true),
  /** The devices it changed. */
  devices: z.array(z.object({
    /** The device's name (the new one after rename). */
    name: z.string(),
    /** Its uuid; null when it has none. */
    uuid: z.string().nullable(),
    /** Major number; null when not known (a removed device). */
    major: z.number().int().nonnegative().nullable(),
    /** Minor number; null as major. */
    minor: z.number().int().nonnegative().nullable(),
    /** remove: true when the kernel deferred the removal to the last close. */
    deferred: z.boolean().optional(),
    /** What happened to /dev/mapper/<name> (see lib/udev/device-nodes.ts). */
    node: z.enum(['created', 'exists', 'removed', 'absent', 'renamed', 'udev', 'fallback']).optional(),
  })),
});

/** dmctl `mknodes --json`: what was done to `/dev/mapper`. */
export const MknodesOutputSchema = documentSchema({
  /** Each node looked at. */
  nodes: z.array(z.object({
    /** The node, e.g. `/dev/mapper/<name>`. */
    path: z.string(),
    /** What was done (see lib/udev/device-nodes.ts). */
    action: z.enum(['created', 'exists', 'removed', 'absent', 'renamed', 'udev', 'fallback']),
  })),
});

/** dmctl `recover --json`: what recovery did (or, with --dry-run, would do) for each operation a dead process left half-done. */
export const RecoverOutputSchema = documentSchema({
  /** Where the intent records are. */
  location: z.string(),
  /** Whether nothing was changed (--dry-run). */
  dryRun: z.boolean(),
  /** One entry per record of a dead process. */
  operations: z.array(z.object({
    /** The record's key. */
    key: z.string(),
    /** The operation, e.g. `ThinPool.snapshot`. */
    operation: z.string(),
    /** The dead process's pid. */
    pid: z.number().int(),
    /** When its operation started, ms since the epoch. */
    startedAtMs: z.number(),
    /** recovered (record removed), failed (record kept with a note) or planned (--dry-run). */
    outcome: z.enum(['recovered', 'failed', 'planned']),
    /** Each action. */
    actions: z.array(z.object({
      /** What was done. */
      action: z.enum(['clear', 'resume', 'remove', 'delete-thin', 'release-cookie']),
      /** The device, thin id or semaphore. */
      target: z.string(),
      /** done, planned, not-needed, skipped or failed. */
      outcome: z.enum(['done', 'planned', 'not-needed', 'skipped', 'failed']),
      /** Why, for skipped and failed actions. */
      note: z.string().nullable(),
    })),
  })),
  /** Records of live processes, left alone. */
  live: z.number().int(),
  /** Records another live recoverer holds. */
  claimedElsewhere: z.number().int(),
});

/** `--dry-run --json`: the requests that would be sent. */
export const DryRunOutputSchema = documentSchema({
  /** The requests in the order they would be sent. */
  requests: z.array(z.object({
    /** The kernel's name, e.g. `DM_TABLE_LOAD`. */
    ioctl: z.string(),
    /** The client command, e.g. `load`. */
    command: z.string(),
    /** What the request does as its flags say: the command, or `resume` for DM_DEV_SUSPEND without DM_SUSPEND_FLAG. */
    operation: z.string(),
    /** The ioctl request number, e.g. "0xc138fd07". */
    request: z.string(),
    /** Total size of the buffer handed to the kernel (data_size). */
    size: z.number().int(),
    /** Hex of the meaningful bytes (header and payload; the rest is zero). */
    hex: z.string(),
    /** Every field, as `--hex` annotates it. */
    fields: z.array(z.object({
      /** Byte offset in the request. */
      offset: z.number().int(),
      /** Size in bytes. */
      size: z.number().int(),
      /** The record's field name, e.g. `dm_ioctl.flags`. */
      field: z.string(),
      /** Its value as text. */
      value: z.string(),
    })),
  })),
});

/** `dmctl decode`: the reply decoded by the codec, with the raw header. 64-bit values are decimal strings. */
export const DecodeOutputSchema = documentSchema({
  /** The client command the reply was decoded as. */
  command: z.string(),
  /** The kernel's name of it. */
  ioctl: z.string(),
  /** The dm_ioctl header's fields, plus `flagNames`. */
  header: z.record(z.string(), z.unknown()),
  /** The codec's typed reply. */
  reply: z.record(z.string(), z.unknown()),
});

/** Printed on stderr with --json when a verb fails. */
export const ErrorOutputSchema = documentSchema({
  /** What failed. */
  error: z.object({
    /** The error's `code`: the errno's name whenever an errno caused it (ENXIO, EBUSY, ENOENT opening the control node, …), else the library's or dmctl's own code (INVALID_NAME, DM_PLATFORM, USAGE, …). */
    code: z.string(),
    /** The error's message (without the kernel's lines, which are in `kernelLog`). */
    message: z.string(),
    /** The client command (load, info, …) when an ioctl failed. */
    command: z.string().nullable(),
    /** The device concerned, when an ioctl on one failed. */
    device: z.string().nullable(),
    /** What the kernel logged about it. */
    kernelLog: z.array(z.string()),
    /** What to try next, when dmctl knows. */
    hint: z.string().nullable(),
  }),
});

/** `table --concise --json`: the concise text as dmsetup prints it (without its newline) and the devices in it. */
export const ConciseTableOutputSchema = documentSchema({
  /** The line `dmsetup table --concise` prints, without its newline (keys hidden unless --showkeys). */
  concise: z.string(),
  /** The devices of the line, in its order. */
  devices: z.array(z.object({
    /** The device's name. */
    name: z.string(),
    /** Its uuid; null when it has none. */
    uuid: z.string().nullable(),
    /** Its minor number. */
    minor: z.number().int().nonnegative(),
    /** Whether its table is read-only (`ro`). */
    readOnly: z.boolean(),
    /** Its table lines (of `--target`'s type only, when given). */
    targets: z.array(TargetLineSchema),
  })),
});

/** `mangle --json`: each device looked at, and whether it was renamed. */
export const MangleOutputSchema = documentSchema({
  /** The devices, in the order they were looked at. */
  devices: z.array(z.object({
    /** Its name in the kernel before (as the kernel holds it). */
    name: z.string(),
    /** Its uuid; null when it has none. */
    uuid: z.string().nullable(),
    /** The name it was renamed to; null when it was already in the mode's form. */
    newName: z.string().nullable(),
    /** Whether it was renamed. */
    renamed: z.boolean(),
  })),
});

/** `ls --exec <command> --json`: what ran, per device (the command's own output went to stderr). */
export const ExecOutputSchema = documentSchema({
  /** One entry per device the command ran for. */
  devices: z.array(z.object({
    /** The device's name. */
    name: z.string(),
    /** The node path the command was given. */
    path: z.string(),
    /** The command's exit status; null when a signal ended it or it could not start. */
    exitCode: z.number().int().nullable(),
  })),
});

/**
 * dmctl `info -c --json` and `splitname --json`: the report's shown fields (the `-o` list
 * as dmsetup expands it) and one record per row, field id → the text dmsetup prints
 * (unpadded), rows selected by `-S` and sorted by `-O`. A field named twice is one key.
 */
export const ReportOutputSchema = documentSchema({
  /** The shown fields' ids, in `-o` order. */
  fields: z.array(z.string()),
  /** The rows, each field's text by id. */
  rows: z.array(z.record(z.string(), z.string())),
});

/** The zod schema of each dmctl verb's `--json` output, by verb. */
export const DmctlSchemas = {
  /** `version --json` (and `--version --json`). */
  version: VersionOutputSchema,
  /** `targets --json`. */
  targets: TargetsOutputSchema,
  /** `ls --json`. */
  ls: LsOutputSchema,
  /** `info --json`. */
  info: InfoOutputSchema,
  /** `table --json`. */
  table: TableOutputSchema,
  /** `status --json`. */
  status: StatusOutputSchema,
  /** `deps --json`. */
  deps: DepsOutputSchema,
  /** `message --json`. */
  message: MessageOutputSchema,
  /** `wait --json`. */
  wait: WaitOutputSchema,
  /** The verbs that change devices (create, remove, rename, …) with --json. */
  result: ResultOutputSchema,
  /** `mknodes --json`. */
  mknodes: MknodesOutputSchema,
  /** `recover --json`. */
  recover: RecoverOutputSchema,
  /** `--dry-run --json`, and `decode` of a `--dry-run --hex` dump. */
  dryRun: DryRunOutputSchema,
  /** `decode` of a reply. */
  decode: DecodeOutputSchema,
  /** The error document on stderr with --json. */
  error: ErrorOutputSchema,
  /** `table --concise --json`. */
  conciseTable: ConciseTableOutputSchema,
  /** `mangle --json`. */
  mangle: MangleOutputSchema,
  /** `ls --exec --json`. */
  exec: ExecOutputSchema,
  /** `info -c --json` and `splitname --json`. */
  report: ReportOutputSchema,
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
