/**
 * `dmctl verity format|verify|dump`: veritysetup's actions on the library's verity tree
 * (lib/verity/), with veritysetup's options, its stdout byte for byte, its error lines on
 * stderr and its exit statuses (cryptsetup src/veritysetup.c, src/utils_tools.c;
 * docs/verity.md). It parses its own command line: veritysetup's options (`-h` is --hash,
 * `-s` --salt) are not dmctl's. The actions are a table (`VERITY_ACTIONS`), so open and close
 * are one row each.
 */
import { parseArgs } from 'node:util';
import {
  DmAbortError, DmSyscallError, DmVerityError, DmVerityFecError, computeFec, verifyFec, formatVerity, veritysetupFecCoverage, readVeritySuperblock, verifyVerity, type VerityFormatResult, type VerityHeader,
  blockDeviceBytes, closeVerity, openVerity, type DeviceMapper, type OpenVerityOptions, type VerityOpenParams,
} from '../lib/index.js';
import type { CliIo } from './context.js';
import { DMCTL_JSON_VERSION, ErrorOutputSchema } from './schemas.js';
import { VerityCloseOutputSchema, VerityOpenOutputSchema, VerityOutputSchema, type DmctlVerityOutput } from './verity-schemas.js';

const OPTIONS = {
  'data-block-size': { type: 'string' },
  'data-blocks': { type: 'string' },
  'hash-block-size': { type: 'string' },
  'hash-offset': { type: 'string' },
  format: { type: 'string' },
  hash: { type: 'string', short: 'h' },
  salt: { type: 'string', short: 's' },
  uuid: { type: 'string' },
  'no-superblock': { type: 'boolean' },
  'root-hash-file': { type: 'string' },
  'fec-device': { type: 'string' },
  'fec-offset': { type: 'string' },
  'fec-roots': { type: 'string' },
  'root-hash-signature': { type: 'string' },
  'ignore-corruption': { type: 'boolean' },
  'restart-on-corruption': { type: 'boolean' },
  'panic-on-corruption': { type: 'boolean' },
  'ignore-zero-blocks': { type: 'boolean' },
  'check-at-most-once': { type: 'boolean' },
  'use-tasklets': { type: 'boolean' },
  deferred: { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: '?' },
} as const;

/** The parsed command line of one action. */
export interface VerityArgs {
  readonly args: readonly string[];
  readonly values: { readonly [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };
  readonly io: CliIo;
}

/** One action: its operands (as veritysetup's usage names them), how many it needs, and its run. */
export interface VerityAction {
  readonly operands: string;
  readonly required: number;
  readonly help: string;
  run(a: VerityArgs): Promise<number>;
}

/** A condition veritysetup reports with a message and an exit status. */
class VerityCliError extends Error {
  constructor(readonly lines: readonly string[], readonly status: number) {
    super(lines.join('\n'));
  }
}

/** veritysetup's numeric option: decimal digits (strtoull's range), else "invalid numeric value". */
function numeric(v: string | undefined, max: bigint): bigint | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || BigInt(v) > max) throw new VerityCliError(['__usage__', 'invalid numeric value'], 1);
  return BigInt(v);
}

const U32 = 0xffffffffn;
const U64 = 0xffffffffffffffffn;

/** The tree options shared by format and verify --no-superblock. */
function treeOptions(a: VerityArgs) {
  const v = a.values;
  const format = numeric(v.format, U32);
  return {
    hashAlgorithm: v.hash ?? 'sha256',
    hashType: (format === undefined ? 1 : Number(format)) as 0 | 1,
    dataBlockSizeBytes: Number(numeric(v['data-block-size'], U32) ?? 4096n),
    hashBlockSizeBytes: Number(numeric(v['hash-block-size'], U32) ?? 4096n),
    dataBlocks: numeric(v['data-blocks'], U64) ?? 0n,
    hashOffsetBytes: numeric(v['hash-offset'], U64) ?? 0n,
  };
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** VERITY_dump()'s text (cryptsetup lib/verity/verity.c), tabs and all. */
export function verityDumpText(hashDevice: string, h: {
  uuid: string | undefined; hashType: number; dataBlocks: bigint; dataBlockSizeBytes: number; hashBlocks: bigint; hashBlockSizeBytes: number;
  hashAlgorithm: string; salt: Uint8Array; rootHash?: Uint8Array | undefined; hashDeviceSizeBytes: bigint | undefined;
  fec?: { roots: number; fecBlocks: bigint; fecDeviceSizeBytes: bigint | undefined } | undefined;
}): string {
  return `VERITY header information for ${hashDevice}\n`
    + `UUID:            \t${h.uuid ?? ''}\n`
    + `Hash type:       \t${h.hashType}\n`
    + `Data blocks:     \t${h.dataBlocks}\n`
    + `Data block size: \t${h.dataBlockSizeBytes}\n`
    + `Hash blocks:     \t${h.hashBlocks}\n`
    + `Hash block size: \t${h.hashBlockSizeBytes}\n`
    + `Hash algorithm:  \t${h.hashAlgorithm}\n`
    + (h.fec ? `FEC RS roots:   \t${h.fec.roots}\nFEC blocks:     \t${h.fec.fecBlocks}\n` : '')
    + `Salt:            \t${h.salt.length > 0 ? hex(h.salt) : '-'}\n`
    + (h.rootHash ? `Root hash:      \t${hex(h.rootHash)}\n` : '')
    + (h.hashDeviceSizeBytes !== undefined ? `Hash device size: \t${h.hashDeviceSizeBytes} [bytes]\n` : '')
    + (h.fec?.fecDeviceSizeBytes !== undefined ? `FEC device size: \t${h.fec.fecDeviceSizeBytes} [bytes]\n` : '');
}

function json(a: VerityArgs, value: Omit<DmctlVerityOutput, 'schemaVersion'>): void {
  a.io.stdout(JSON.stringify(VerityOutputSchema.parse({ schemaVersion: DMCTL_JSON_VERSION, ...value }), null, 2) + '\n');
}

/** The errors of reaching a device, as veritysetup says them. */
function deviceError(e: unknown, device: string): never {
  if (e instanceof DmSyscallError && (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ENOTDIR')) {
    throw new VerityCliError([`Device ${device} does not exist or access denied.`], 4);
  }
  throw e;
}

/** Refuses --fec-offset/--fec-roots without --fec-device (format, verify) and every FEC option for dump. */
function noFec(a: VerityArgs): void {
  if (a.values['fec-device'] !== undefined || a.values['fec-offset'] !== undefined || a.values['fec-roots'] !== undefined) {
    throw new VerityCliError(['dmctl verity: --fec-device, --fec-offset and --fec-roots are not supported yet.'], 1);
  }
}

/** Positional reads and writes of a plain file or block device, for the FEC passes. */
async function fecFile(path: string, flags: 'r' | 'r+') {
  const { open } = await import('node:fs/promises');
  const fh = await open(path, flags);
  return {
    fh,
    reader: async (offsetBytes: bigint, lengthBytes: number) => {
      const buf = new Uint8Array(lengthBytes);
      let got = 0;
      while (got < lengthBytes) {
        const { bytesRead } = await fh.read(buf, got, lengthBytes - got, Number(offsetBytes) + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    writer: async (offsetBytes: bigint, bytes: Uint8Array) => {
      let put = 0;
      while (put < bytes.length) put += (await fh.write(bytes, put, bytes.length - put, Number(offsetBytes) + put)).bytesWritten;
    },
  };
}

/** veritysetup format --fec-device: the parity of the data and the hash area (docs/verity-fec.md, "merge notes"). */
async function formatFec(a: VerityArgs, data: string, hash: string, r: VerityFormatResult): Promise<{ roots: number; fecBlocks: bigint; fecBytes: bigint; shared: boolean; fecDeviceSizeBytes: bigint | undefined }> {
  const fecDevice = a.values['fec-device']!;
  const roots = Number(numeric(a.values['fec-roots'], U32) ?? 2n);
  const fecOffsetBytes = numeric(a.values['fec-offset'], U64) ?? 0n;
  const { stat } = await import('node:fs/promises');
  const hashAreaEndBytes = fecDevice === hash ? fecOffsetBytes : BigInt((await stat(hash)).size);
  const coverage = veritysetupFecCoverage({
    blockSizeBytes: r.dataBlockSizeBytes, dataBlocks: r.dataBlocks, hashOffsetBytes: numeric(a.values['hash-offset'], U64) ?? 0n,
    superblock: a.values['no-superblock'] !== true, hashAreaEndBytes,
  });
  const d = await fecFile(data, 'r').catch((e) => deviceError(e, data));
  try {
    const h = await fecFile(hash, 'r').catch((e) => deviceError(e, hash));
    try {
      const f = await fecFile(fecDevice, 'r+').catch((e) => deviceError(e, fecDevice));
      try {
        const res = await computeFec({
          blockSizeBytes: r.dataBlockSizeBytes, roots, dataBlocks: r.dataBlocks, ...coverage, fecOffsetBytes,
          dataReader: d.reader, hashReader: h.reader, writer: f.writer,
        });
        const shared = fecDevice === hash;
        return { roots, fecBlocks: res.layout.fecBlocks, fecBytes: res.fecBytes, shared, fecDeviceSizeBytes: shared ? undefined : BigInt((await f.fh.stat()).size) };
      } finally { await f.fh.close(); }
    } finally { await h.fh.close(); }
  } finally { await d.fh.close(); }
}

async function format(a: VerityArgs): Promise<number> {
  if (a.values['fec-device'] === undefined) noFec(a);
  const [data, hash] = a.args as [string, string];
  const t = treeOptions(a);
  const noSb = a.values['no-superblock'] === true;
  let r: VerityFormatResult;
  try {
    r = await formatVerity(data, hash, { ...t, superblock: !noSb, ...(noSb || a.values.uuid === undefined ? {} : { uuid: a.values.uuid }), ...(a.values.salt === undefined ? {} : { salt: a.values.salt }) });
  } catch (e) {
    if (e instanceof DmSyscallError && e.code === 'EIO') throw new VerityCliError(['Input/output error while creating hash area.'], 1);
    if (e instanceof DmSyscallError && e.path === data) deviceError(e, data);
    throw e;
  }
  const fec = a.values['fec-device'] === undefined ? undefined : await formatFec(a, data, hash, r);
  // VERITY_create()'s warning (crypt_getpagesize(): x86's and most others' 4096).
  if (t.dataBlockSizeBytes > pageSizeBytes()) a.io.stderr(`WARNING: Kernel cannot activate device if data block size exceeds page size (${pageSizeBytes()}).\n`);
  if (a.values.json) {
    json(a, {
      action: 'format', hashDevice: hash, uuid: r.uuid ?? null, hashType: r.hashType, dataBlocks: String(r.dataBlocks), dataBlockSizeBytes: r.dataBlockSizeBytes,
      hashBlocks: String(r.hashBlocks), hashBlockSizeBytes: r.hashBlockSizeBytes, hashAlgorithm: r.hashAlgorithm, salt: hex(r.salt), rootHash: r.rootHashHex,
      hashDeviceSizeBytes: r.hashDeviceSizeBytes === undefined ? null : String(r.hashDeviceSizeBytes), verified: null,
    });
  } else {
    // veritysetup, FEC in the hash file: no FEC size line, and the FEC area counted in the hash size (observed with 2.6.1).
    const hashDeviceSizeBytes = fec?.shared && r.hashDeviceSizeBytes !== undefined ? r.hashDeviceSizeBytes + fec.fecBytes : r.hashDeviceSizeBytes;
    a.io.stdout(verityDumpText(hash, { ...r, rootHash: r.rootHash, hashDeviceSizeBytes, fec }));
  }
  if (a.values['root-hash-file'] !== undefined) {
    const { writeFileSync } = await import('node:fs');
    try {
      writeFileSync(a.values['root-hash-file'], r.rootHashHex, { mode: 0o600 });
    } catch {
      throw new VerityCliError([`Cannot create root hash file ${a.values['root-hash-file']} for writing.`], 1);
    }
  }
  return 0;
}

/** The page size veritysetup compares data blocks with: 4096 (the page of x86 and of most arm64 kernels). */
function pageSizeBytes(): number {
  return 4096;
}

/**
 * veritysetup verify --fec-device after a failed check (cryptsetup VERITY_activate with
 * CRYPT_VERITY_CHECK_HASH): the FEC decoder runs over the covered blocks without writing;
 * a decodable area is "Found N repairable errors" (N: the symbols corrected, parity's
 * included) and exit 0 after a data-area failure, 2 after a root hash failure; a codeword
 * beyond repair is "Failed to repair parity for block <round>." and exit 2.
 */
async function verifyWithFec(a: VerityArgs, data: string, hash: string, failure: readonly string[], rootFailed: boolean): Promise<number> {
  const fecDevice = a.values['fec-device']!;
  const roots = Number(numeric(a.values['fec-roots'], U32) ?? 2n);
  const fecOffsetBytes = numeric(a.values['fec-offset'], U64) ?? 0n;
  const noSb = a.values['no-superblock'] === true;
  const t = treeOptions(a);
  const { stat } = await import('node:fs/promises');
  let blockSizeBytes = t.dataBlockSizeBytes;
  let dataBlocks = t.dataBlocks;
  if (!noSb) {
    const sb = await readVeritySuperblock(hash, { hashOffsetBytes: t.hashOffsetBytes });
    blockSizeBytes = sb.dataBlockSizeBytes;
    dataBlocks = sb.dataBlocks;
  } else if (dataBlocks === 0n) {
    dataBlocks = BigInt((await stat(data)).size) / BigInt(blockSizeBytes);
  }
  const hashAreaEndBytes = fecDevice === hash ? fecOffsetBytes : BigInt((await stat(hash)).size);
  const coverage = veritysetupFecCoverage({ blockSizeBytes, dataBlocks, hashOffsetBytes: t.hashOffsetBytes, superblock: !noSb, hashAreaEndBytes });
  a.io.stderr(failure.map((l) => `${l}\n`).join(''));
  const d = await fecFile(data, 'r').catch((e) => deviceError(e, data));
  try {
    const h = await fecFile(hash, 'r').catch((e) => deviceError(e, hash));
    try {
      const f = await fecFile(fecDevice, 'r').catch((e) => deviceError(e, fecDevice));
      try {
        const res = await verifyFec({ blockSizeBytes, roots, dataBlocks, ...coverage, fecOffsetBytes, dataReader: d.reader, hashReader: h.reader, fecReader: f.reader });
        const errors = res.correctedBytes + res.parityErrors;
        if (errors > 0) a.io.stderr(`Found ${errors} repairable errors with FEC device.\n`);
        return rootFailed ? 2 : 0;
      } catch (e) {
        if (e instanceof DmVerityFecError && e.code === 'FEC_UNCORRECTABLE') {
          throw new VerityCliError([`Failed to repair parity for block ${e.round}.`, 'Errors cannot be repaired with FEC device.'], 2);
        }
        throw e;
      } finally { await f.fh.close(); }
    } finally { await h.fh.close(); }
  } finally { await d.fh.close(); }
}

async function verify(a: VerityArgs): Promise<number> {
  if (a.values['fec-device'] === undefined) noFec(a);
  const [data, hash, rootArg] = a.args as [string, string, string | undefined];
  let root = rootArg;
  if (a.values['root-hash-file'] !== undefined) {
    const { readFileSync } = await import('node:fs');
    try {
      root = readFileSync(a.values['root-hash-file'], 'utf8').trim();
    } catch {
      throw new VerityCliError([`Cannot read root hash file ${a.values['root-hash-file']}.`], 1);
    }
  } else if (root === undefined) {
    throw new VerityCliError(['Command requires <root_hash> or --root-hash-file option as argument.'], 1);
  }
  const noSb = a.values['no-superblock'] === true;
  const t = treeOptions(a);
  try {
    const r = await verifyVerity(data, hash, root, noSb
      ? { ...t, superblock: false, salt: a.values.salt ?? hex(new Uint8Array((await import('node:crypto')).randomBytes(32))) }
      : { hashOffsetBytes: t.hashOffsetBytes });
    if (a.values.json) {
      const sb = r.superblock;
      const hashBlocks = r.hashBlocks;
      json(a, {
        action: 'verify', hashDevice: hash, uuid: sb?.uuid ?? null, hashType: sb?.hashType ?? t.hashType, dataBlocks: String(r.dataBlocks),
        dataBlockSizeBytes: sb?.dataBlockSizeBytes ?? t.dataBlockSizeBytes, hashBlocks: String(hashBlocks), hashBlockSizeBytes: sb?.hashBlockSizeBytes ?? t.hashBlockSizeBytes,
        hashAlgorithm: sb?.hashAlgorithm ?? t.hashAlgorithm, salt: sb ? hex(sb.salt) : a.values.salt ?? '', rootHash: r.rootHashHex, hashDeviceSizeBytes: null, verified: true,
      });
    }
    return 0;
  } catch (e) {
    if (e instanceof DmSyscallError && (e.path === data || e.path === hash) && e.code !== 'EIO') deviceError(e, e.path);
    if (e instanceof DmVerityError && e.code === 'VERITY_SUPERBLOCK') {
      throw new VerityCliError([...(e.message === 'No VERITY signature detected.' ? [] : [e.message]), `Device ${hash} is not a valid VERITY device.`], 1);
    }
    if (a.values['fec-device'] !== undefined && e instanceof DmVerityError && (e.code === 'VERITY_CORRUPT' || e.code === 'VERITY_ROOT_HASH')) {
      return verifyWithFec(a, data, hash, e.code === 'VERITY_CORRUPT' ? [e.message, 'Verification of data area failed.'] : [e.message], e.code === 'VERITY_ROOT_HASH');
    }
    if (e instanceof DmVerityError && e.code === 'VERITY_CORRUPT') throw new VerityCliError([e.message, 'Verification of data area failed.'], 2);
    if (e instanceof DmSyscallError && e.code === 'EIO') throw new VerityCliError(['Verification of data area failed.'], 1);
    throw e;
  }
}

async function dump(a: VerityArgs): Promise<number> {
  noFec(a);
  const [hash] = a.args as [string];
  let h: VerityHeader;
  try {
    h = await readVeritySuperblock(hash, { hashOffsetBytes: numeric(a.values['hash-offset'], U64) ?? 0n });
  } catch (e) {
    if (e instanceof DmSyscallError && e.path === hash) deviceError(e, hash);
    if (e instanceof DmVerityError) throw new VerityCliError([...(e.message === 'No VERITY signature detected.' ? [] : [e.message]), `Device ${hash} is not a valid VERITY device.`], 1);
    throw e;
  }
  if (a.values.json) {
    json(a, {
      action: 'dump', hashDevice: hash, uuid: h.uuid, hashType: h.hashType, dataBlocks: String(h.dataBlocks), dataBlockSizeBytes: h.dataBlockSizeBytes,
      hashBlocks: String(h.hashBlocks), hashBlockSizeBytes: h.hashBlockSizeBytes, hashAlgorithm: h.hashAlgorithm, salt: hex(h.salt), rootHash: null,
      hashDeviceSizeBytes: h.hashDeviceSizeBytes === undefined ? null : String(h.hashDeviceSizeBytes), verified: null,
    });
  } else {
    a.io.stdout(verityDumpText(hash, h));
  }
  return 0;
}

/** The root hash operand or --root-hash-file's contents (veritysetup's order: the file wins). */
async function rootHashArg(a: VerityArgs, operand: string | undefined): Promise<string> {
  if (a.values['root-hash-file'] !== undefined) {
    const { readFileSync } = await import('node:fs');
    try {
      return readFileSync(a.values['root-hash-file'], 'utf8').trim();
    } catch {
      throw new VerityCliError([`Cannot read root hash file ${a.values['root-hash-file']}.`], 1);
    }
  }
  if (operand === undefined) throw new VerityCliError(['Command requires <root_hash> or --root-hash-file option as argument.'], 1);
  return operand;
}

/** Runs `use` with the client dmctl opens (the simulator's in tests), closing it after. */
async function withClient<T>(a: VerityArgs, use: (dm: DeviceMapper) => Promise<T>): Promise<T> {
  const dm = await a.io.open();
  try {
    return await use(dm);
  } finally {
    dm.close();
  }
}

/** veritysetup open's exit statuses for what the kernel or the device says (translate_errno in utils_tools.c). */
function busyError(e: unknown, name: string, creating: boolean): never {
  const code = (e as { code?: unknown }).code;
  // The kernel answers a create under a name in use with EBUSY.
  if (code === 'EEXIST' || (creating && code === 'EBUSY')) throw new VerityCliError([`Device ${name} already exists.`], 5);
  if (code === 'EBUSY') throw new VerityCliError([`Device ${name} is still in use.`], 5);
  throw e;
}

/**
 * `veritysetup open <data_device> <name> <hash_device> [<root_hash>]`: from the superblock
 * (openVerity reads it through the client's backend) or, with --no-superblock, from the
 * command line's format options; FEC, corruption and verification flags as table options.
 * Prints nothing on success, as veritysetup.
 */
async function open(a: VerityArgs): Promise<number> {
  const [data, name, hash, rootOperand] = a.args as [string, string, string, string | undefined];
  const rootHex = await rootHashArg(a, rootOperand);
  if (rootHex.length === 0 || rootHex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(rootHex)) throw new VerityCliError(['Invalid root hash string specified.'], 1);
  const rootHash = Uint8Array.from(rootHex.match(/../g)!, (p) => parseInt(p, 16));
  const v = a.values;
  const modes = [v['ignore-corruption'], v['restart-on-corruption'], v['panic-on-corruption']].filter(Boolean).length;
  if (modes > 1) throw new VerityCliError(['__usage__', 'Option --ignore-corruption, --restart-on-corruption or --panic-on-corruption is allowed only once.'], 1);
  let signature: Uint8Array | undefined;
  if (v['root-hash-signature'] !== undefined) {
    const { readFileSync } = await import('node:fs');
    try {
      signature = new Uint8Array(readFileSync(v['root-hash-signature']));
    } catch {
      throw new VerityCliError([`Cannot read signature file ${v['root-hash-signature']}.`], 1);
    }
  }
  if (v['fec-device'] === undefined && (v['fec-offset'] !== undefined || v['fec-roots'] !== undefined)) {
    throw new VerityCliError(['__usage__', 'Option --fec-offset and --fec-roots can be used only with --fec-device.'], 1);
  }
  const noSb = v['no-superblock'] === true;
  const t = treeOptions(a);
  const flags = {
    ...(v['ignore-corruption'] ? { ignoreCorruption: true } : {}), ...(v['restart-on-corruption'] ? { restartOnCorruption: true } : {}),
    ...(v['panic-on-corruption'] ? { panicOnCorruption: true } : {}), ...(v['ignore-zero-blocks'] ? { ignoreZeroBlocks: true } : {}),
    ...(v['check-at-most-once'] ? { checkAtMostOnce: true } : {}), ...(v['use-tasklets'] ? { useTasklets: true } : {}),
  };
  return withClient(a, async (dm) => {
    let params: VerityOpenParams | undefined;
    let verityUuid: string | undefined;
    if (noSb) {
      let dataBlocks = t.dataBlocks;
      // veritysetup: without --data-blocks the data device's size decides.
      if (dataBlocks === 0n) dataBlocks = await blockDeviceBytes(data, { dm }).catch((e) => deviceError(e, data)) / BigInt(t.dataBlockSizeBytes);
      const salt = v.salt === undefined ? new Uint8Array(0) : hexSalt(v.salt);
      params = { version: t.hashType, hashAlgorithm: t.hashAlgorithm, dataBlockSizeBytes: t.dataBlockSizeBytes, hashBlockSizeBytes: t.hashBlockSizeBytes, dataBlocks, hashOffsetBytes: t.hashOffsetBytes, noSuperblock: true, salt };
    } else if (v['fec-device'] !== undefined) {
      // FEC's coverage needs the tree's geometry: the superblock is read here, not by openVerity.
      const sb = await readVeritySuperblock(hash, { dm, hashOffsetBytes: t.hashOffsetBytes }).catch((e) => superblockError(e, hash));
      params = { version: sb.hashType, hashAlgorithm: sb.hashAlgorithm, dataBlockSizeBytes: sb.dataBlockSizeBytes, hashBlockSizeBytes: sb.hashBlockSizeBytes, dataBlocks: sb.dataBlocks, hashOffsetBytes: sb.hashOffsetBytes, salt: sb.salt };
      verityUuid = sb.uuid;
    }
    let fec: OpenVerityOptions['fec'];
    if (v['fec-device'] !== undefined) {
      const fecDevice = v['fec-device'];
      const roots = Number(numeric(v['fec-roots'], U32) ?? 2n);
      const fecOffsetBytes = numeric(v['fec-offset'], U64) ?? 0n;
      const blockSizeBytes = params!.dataBlockSizeBytes;
      // VERITY_FEC_blocks: the data, then the hash device up to the FEC area (shared) or its end.
      const hashAreaEndBytes = fecDevice === hash ? fecOffsetBytes : await blockDeviceBytes(hash, { dm }).catch((e) => deviceError(e, hash));
      const coverage = veritysetupFecCoverage({ blockSizeBytes, dataBlocks: params!.dataBlocks, hashOffsetBytes: t.hashOffsetBytes, superblock: !noSb, hashAreaEndBytes });
      if (fecOffsetBytes % BigInt(blockSizeBytes) !== 0n) throw new VerityCliError(['Unsupported FEC offset.'], 1);
      fec = { device: fecDevice, roots, startBlocks: fecOffsetBytes / BigInt(blockSizeBytes), encodingBlocks: BigInt(params!.dataBlocks) + coverage.hashBlocks };
    }
    const options: OpenVerityOptions = {
      name, dataDevice: data, hashDevice: hash, rootHash,
      ...(params ? { params } : t.hashOffsetBytes !== 0n ? { hashOffsetBytes: t.hashOffsetBytes } : {}),
      ...(verityUuid !== undefined ? { verityUuid } : {}),
      ...(signature ? { signature } : {}),
      ...(Object.keys(flags).length ? { options: flags } : {}),
      ...(fec ? { fec } : {}),
    };
    let d: Awaited<ReturnType<typeof openVerity>>;
    try {
      d = await openVerity(dm, options);
    } catch (e) {
      if (e instanceof DmVerityError && e.code === 'VERITY_SUPERBLOCK') superblockError(e, hash);
      if (e instanceof DmSyscallError && (e.path === data || e.path === hash)) deviceError(e, e.path);
      busyError(e, name, true);
    }
    if (a.values.json) {
      a.io.stdout(JSON.stringify(VerityOpenOutputSchema.parse({
        schemaVersion: DMCTL_JSON_VERSION, action: 'open', name: d.name, uuid: d.uuid, major: d.dev.major, minor: d.dev.minor, path: d.path, loopDevices: [...d.loopDevices],
      }), null, 2) + '\n');
    }
    return 0;
  });
}

/** --salt for open --no-superblock: hex or `-`. */
function hexSalt(text: string): Uint8Array {
  if (text === '-') return new Uint8Array(0);
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new VerityCliError(['Invalid salt string specified.'], 1);
  return Uint8Array.from(text.match(/../g) ?? [], (p) => parseInt(p, 16));
}

/** A superblock veritysetup refuses: its message, then "not a valid VERITY device". */
function superblockError(e: unknown, hash: string): never {
  if (e instanceof DmSyscallError && e.path === hash) deviceError(e, hash);
  if (e instanceof DmVerityError) throw new VerityCliError([...(e.message === 'No VERITY signature detected.' ? [] : [e.message]), `Device ${hash} is not a valid VERITY device.`], 1);
  throw e;
}

/**
 * `veritysetup close <name>`: removes the device; a name not there is "not active" (exit 4).
 * `--deferred`: a device still open is removed at its last close (exit 0, as veritysetup).
 */
async function close(a: VerityArgs): Promise<number> {
  const [name] = a.args as [string];
  return withClient(a, async (dm) => {
    const info = await dm.info(name);
    if (!info.exists) throw new VerityCliError([`Device ${name} is not active.`], 4);
    try {
      await closeVerity(dm, name, a.values.deferred ? { deferred: true } : {});
    } catch (e) {
      busyError(e, name, false);
    }
    if (a.values.json) {
      // Still there (same uuid and number) after a deferred remove: it goes at its last close.
      const after = await dm.info(name);
      const pending = after.exists && after.dev.minor === info.dev.minor && after.uuid === info.uuid;
      a.io.stdout(JSON.stringify(VerityCloseOutputSchema.parse({ schemaVersion: DMCTL_JSON_VERSION, action: 'close', name, uuid: info.uuid ?? null, deferred: pending }), null, 2) + '\n');
    }
    return 0;
  });
}

/** veritysetup's actions, by name. */
export const VERITY_ACTIONS: Record<string, VerityAction> = {
  format: { operands: '<data_device> <hash_device>', required: 2, help: 'format device', run: format },
  verify: { operands: '<data_device> <hash_device> [<root_hash>]', required: 2, help: 'verify device', run: verify },
  open: { operands: '<data_device> <name> <hash_device> [<root_hash>]', required: 3, help: 'open device as <name>', run: open },
  close: { operands: '<name>', required: 1, help: 'close device (remove mapping)', run: close },
  dump: { operands: '<hash_device>', required: 1, help: 'show on-disk information', run: dump },
};

/** `dmctl verity`'s usage text. */
export function verityUsage(): string {
  return 'Usage: dmctl verity <action> [options]   (veritysetup\'s actions and options)\n\n'
    + Object.entries(VERITY_ACTIONS).map(([n, x]) => `\t${n} ${x.operands} - ${x.help}\n`).join('')
    + '\nOptions: --hash|-h <name>, --salt|-s <hex>|-, --data-block-size, --hash-block-size, --data-blocks, --hash-offset <bytes>,\n'
    + '  --format 0|1, --no-superblock, --uuid <uuid>, --root-hash-file <path>, -v|--verbose, --json,\n'
    + '  --fec-device <path>, --fec-roots <n>, --fec-offset <bytes>, --root-hash-signature <path> (open),\n'
    + '  --ignore-corruption|--restart-on-corruption|--panic-on-corruption, --ignore-zero-blocks, --check-at-most-once, --use-tasklets (open), --deferred (close)\n'
    + 'Exit status as veritysetup: 0 success, 1 wrong parameters, 2 verification failed, 4 wrong device.\n';
}

/** veritysetup's show_status() under -v (utils_tools.c). */
const STATUS_TEXT: Record<number, string> = { 1: 'wrong or missing parameters', 2: 'no permission or bad passphrase', 3: 'out of memory', 4: 'wrong device or file specified', 5: 'device already exists or device is busy' };

/** Runs `dmctl verity <argv…>` (argv without the word `verity`). */
export async function runVerity(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: { values: VerityArgs['values']; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as unknown as typeof parsed;
  } catch (e) {
    io.stderr(`${verityUsage()}dmctl verity: ${(e instanceof Error ? e.message : String(e)).split(/\.\s/)[0]}\n`);
    return 1;
  }
  const [name, ...args] = parsed.positionals;
  if (parsed.values.help) {
    io.stdout(verityUsage());
    return 0;
  }
  if (name === undefined) {
    io.stderr(`${verityUsage()}dmctl verity: Argument <action> missing.\n`);
    return 1;
  }
  const action = Object.hasOwn(VERITY_ACTIONS, name) ? VERITY_ACTIONS[name]! : undefined;
  if (!action) {
    io.stderr(`${verityUsage()}dmctl verity: Unknown action.\n`);
    return 1;
  }
  if (args.length < action.required) {
    io.stderr(`${verityUsage()}dmctl verity: ${name}: requires ${action.operands.replace(/ \[.*$/, '')} as arguments\n`);
    return 1;
  }
  let status: number;
  try {
    status = await action.run({ args, values: parsed.values, io });
  } catch (e) {
    if (e instanceof VerityCliError && e.lines[0] === '__usage__') {
      io.stderr(`${verityUsage()}dmctl verity: ${e.lines.slice(1).join('\n')}\n`);
      return e.status;
    }
    if (parsed.values.json) {
      const code = e instanceof VerityCliError ? (e.status === 2 ? 'VERITY_CORRUPT' : e.status === 4 ? 'ENOENT' : 'VERITY') : (e as { code?: unknown }).code;
      const message = e instanceof VerityCliError ? e.lines.join(' ') : e instanceof Error ? e.message : String(e);
      io.stderr(JSON.stringify(ErrorOutputSchema.parse({
        schemaVersion: DMCTL_JSON_VERSION, error: { code: typeof code === 'string' ? code : 'VERITY', message, command: null, device: null, kernelLog: [], hint: null },
      }), null, 2) + '\n');
      status = e instanceof VerityCliError ? e.status : 1;
    } else if (e instanceof VerityCliError) {
      io.stderr(e.lines.map((l) => `${l}\n`).join(''));
      status = e.status;
    } else if (e instanceof DmVerityError) {
      io.stderr(`${e.message}\n`);
      status = 1;
    } else if (e instanceof DmAbortError) {
      io.stderr('dmctl verity: interrupted\n');
      status = 1;
    } else {
      io.stderr(`${e instanceof Error ? e.message : String(e)}\n`);
      status = 1;
    }
  }
  if (parsed.values.verbose || parsed.values.debug) {
    io.stdout(status === 0 ? 'Command successful.\n' : `Command failed with code ${-status} (${STATUS_TEXT[status] ?? 'unknown error'}).\n`);
  }
  return status;
}
