/**
 * `dmctl thin ls`: thin_ls (thin-provisioning-tools 0.9.0) over the library's
 * `listThinDevices`, its options, its table and its messages byte for byte
 * (docs/thin-tools.md).
 */
import { listThinDevices, openThinMetadata, type ThinDeviceUsage, type ThinMetadata } from '../lib/thin-metadata/public.js';
import type { CliIo } from './context.js';
import { getoptLong } from './getopt-long.js';

/**
 * Opens a pool's metadata for the thin verbs: the file or device at `path`, or, with
 * `metadataSnapBlock`, the metadata snapshot whose superblock is that block.
 */
export type ThinMetadataOpener = (path: string, options: { readonly metadataSnapBlock?: bigint | undefined }) => Promise<ThinMetadata>;

/** The opener dmctl uses: the library's reader on the host's files and devices. */
export const openThinMetadataFile: ThinMetadataOpener = (path, options) => openThinMetadata(path, { metadataSnap: options.metadataSnapBlock });

/** thin_ls's fields, in its order (thin_ls --help). */
export const THIN_LS_FIELDS = [
  'DEV', 'MAPPED_BLOCKS', 'EXCLUSIVE_BLOCKS', 'SHARED_BLOCKS', 'MAPPED_SECTORS', 'EXCLUSIVE_SECTORS', 'SHARED_SECTORS',
  'MAPPED_BYTES', 'EXCLUSIVE_BYTES', 'SHARED_BYTES', 'MAPPED', 'EXCLUSIVE', 'SHARED', 'TRANSACTION', 'CREATE_TIME', 'SNAP_TIME',
] as const;

/** One of thin_ls's fields. */
export type ThinLsField = (typeof THIN_LS_FIELDS)[number];

const SHARING_FIELDS = new Set<ThinLsField>(['EXCLUSIVE_BLOCKS', 'SHARED_BLOCKS', 'EXCLUSIVE_SECTORS', 'SHARED_SECTORS', 'EXCLUSIVE_BYTES', 'SHARED_BYTES', 'EXCLUSIVE', 'SHARED']);

/** thin_ls's usage text. */
export function thinLsUsage(): string {
  return 'Usage: thin_ls [options] {metadata device}\nOptions:\n  {-h|--help}\n  {-m|--metadata-snap}\n  {--no-headers}\n  {-o|--format <fields>}\n  {-V|--version}\n\n'
    + `where <fields> is a comma separated list from:\n${THIN_LS_FIELDS.map((f) => `  ${f}\n`).join('')}`;
}

const U64 = 2n ** 64n;

/**
 * base::format_disk_unit of a sector count: bytes divided by 1024 while above 1 MiB, then
 * rounded to the next unit when above 8 KiB (C's round(): halves away from zero), in
 * unsigned 64-bit arithmetic as thin_ls does it.
 */
export function formatDiskUnitSectors(sectors: bigint): string {
  let n = (sectors * 512n) % U64;
  let i = 0;
  while (n > 1024n * 1024n) {
    n /= 1024n;
    i++;
  }
  if (n > 8n * 1024n) {
    // round(n / 1024.0): n is at most 2^20 here, so the double is exact.
    n = BigInt(Math.round(Number(n) / 1024));
    i++;
  }
  return `${n}${['', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'][i]}`;
}

function fieldText(f: ThinLsField, d: ThinDeviceUsage): string {
  const size = BigInt(d.dataBlockSizeSectors);
  // thin_ls prints 0 exclusive blocks when it did not count them; it counts whenever a
  // sharing field is asked for, so the fallback is never printed.
  const exclusive = d.exclusiveBlocks ?? 0n;
  const shared = (d.mappedBlocks - exclusive + U64) % U64;
  const wrap = (v: bigint) => String(v % U64);
  switch (f) {
    case 'DEV': return String(d.thinId);
    case 'MAPPED_BLOCKS': return String(d.mappedBlocks);
    case 'EXCLUSIVE_BLOCKS': return String(exclusive);
    case 'SHARED_BLOCKS': return String(shared);
    case 'MAPPED_SECTORS': return wrap(d.mappedBlocks * size);
    case 'EXCLUSIVE_SECTORS': return wrap(exclusive * size);
    case 'SHARED_SECTORS': return wrap(shared * size);
    case 'MAPPED_BYTES': return wrap(d.mappedBlocks * size * 512n);
    case 'EXCLUSIVE_BYTES': return wrap(exclusive * size * 512n);
    case 'SHARED_BYTES': return wrap(shared * size * 512n);
    case 'MAPPED': return formatDiskUnitSectors((d.mappedBlocks * size) % U64);
    case 'EXCLUSIVE': return formatDiskUnitSectors((exclusive * size) % U64);
    case 'SHARED': return formatDiskUnitSectors((shared * size) % U64);
    case 'TRANSACTION': return String(d.transactionId);
    case 'CREATE_TIME': return String(d.creationTime);
    case 'SNAP_TIME': return String(d.snapshottedTime);
  }
}

/**
 * thin_ls's table (base::grid_layout): every column right-justified to its widest cell, each
 * cell followed by one space, one line per row.
 */
export function formatThinLs(rows: readonly ThinDeviceUsage[], fields: readonly ThinLsField[], options: { readonly headers?: boolean } = {}): string {
  if (fields.length === 0) return '';
  const grid: string[][] = [];
  if (options.headers ?? true) grid.push([...fields]);
  for (const d of rows) grid.push(fields.map((f) => fieldText(f, d)));
  const widths = fields.map((_, i) => Math.max(...grid.map((r) => r[i]!.length)));
  return grid.map((r) => `${r.map((c, i) => `${c.padStart(widths[i]!)} `).join('')}\n`).join('');
}

const DEFAULT_FIELDS: readonly ThinLsField[] = ['DEV', 'MAPPED', 'CREATE_TIME', 'SNAP_TIME'];

/** The message thin_ls prints for an error of the library (its own wording where it has one). */
export function thinToolMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return "Couldn't stat path";
  return e instanceof Error ? e.message : String(e);
}

/** Runs `dmctl thin ls <argv…>` (thin_ls's argv), on metadata opened by `open`. */
export async function runThinLs(argv: readonly string[], io: Pick<CliIo, 'stdout' | 'stderr'>, open: ThinMetadataOpener = openThinMetadataFile): Promise<number> {
  const parsed = getoptLong('thin_ls', argv, 'ho:m::V', [
      { name: 'help', arg: 'none', key: 'h' }, { name: 'metadata-snap', arg: 'none', key: 'm' }, { name: 'version', arg: 'none', key: 'V' },
      { name: 'format', arg: 'required', key: 'o' }, { name: 'no-headers', arg: 'none', key: 'no-headers' },
    ]);
  if ('error' in parsed) {
    io.stderr(`${parsed.error}\n${thinLsUsage()}`);
    return 1;
  }
  let fields: ThinLsField[] = [...DEFAULT_FIELDS];
  let snap = false;
  let headers = true;
  for (const o of parsed.options) {
    switch (o.key) {
      case 'h': io.stdout(thinLsUsage()); return 0;
      case 'V': io.stdout('0.9.0\n'); return 0;
      case 'm': snap = true; break;
      case 'no-headers': headers = false; break;
      case 'o': {
        // getline(',') splitting: an empty last item is dropped, an empty inner one is not.
        const items = o.value!.split(',');
        if (items.length > 0 && items[items.length - 1] === '') items.pop();
        const bad = items.find((f) => !(THIN_LS_FIELDS as readonly string[]).includes(f));
        if (bad !== undefined) {
          io.stderr('unknown field\n');
          return 1;
        }
        fields = items as ThinLsField[];
        break;
      }
    }
  }
  const path = parsed.operands[0];
  if (path === undefined) {
    io.stderr(`No input file provided.\n${thinLsUsage()}`);
    return 1;
  }
  let md: ThinMetadata | undefined;
  try {
    md = await open(path, {});
    if (snap) {
      const block = md.superblock.metadataSnapBlock;
      await md.close();
      md = undefined;
      if (block === 0n) {
        io.stderr('no current metadata snap\n');
        return 1;
      }
      md = await open(path, { metadataSnapBlock: block });
    }
    const rows = await listThinDevices(md, { sharing: fields.some((f) => SHARING_FIELDS.has(f)), highestMapped: false });
    io.stdout(formatThinLs(rows, fields, { headers }));
    return 0;
  } catch (e) {
    io.stderr(`${thinToolMessage(e)}\n`);
    return 1;
  } finally {
    await md?.close();
  }
}
