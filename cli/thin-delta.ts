/**
 * `dmctl thin delta`: thin_delta (thin-provisioning-tools 0.9.0) over the library's
 * `thinDelta`: its options, its XML with and without `--verbose`, its messages and exit
 * statuses (docs/thin-tools.md). The XML is written as the ranges come, in chunks, so memory
 * stays bounded by the trees' depth.
 */
import { thinDeltaBatches, type ThinDeltaKind, type ThinMetadata } from '../lib/thin-metadata/public.js';
import type { CliIo } from './context.js';
import { getoptLong } from './getopt-long.js';
import { openThinMetadataFile, thinToolMessage, type ThinMetadataOpener } from './thin-ls.js';

/** thin_delta's usage text. */
export function thinDeltaUsage(): string {
  return 'Usage: thin_delta [options] <device or file>\nOptions:\n  {--thin1, --snap1}\n  {--thin2, --snap2}\n  {-m, --metadata-snap} [block#]\n  {--verbose}\n  {-h|--help}\n  {-V|--version}\n';
}

const TAG: Record<ThinDeltaKind, string> = { same: 'same', different: 'different', leftOnly: 'left_only', rightOnly: 'right_only' };

/** Output in chunks: one write per ~64 KiB, not one per range. */
class Chunked {
  #parts: string[] = [];
  #bytes = 0;
  constructor(private readonly write: (text: string) => void) {}
  add(s: string): void {
    this.#parts.push(s);
    this.#bytes += s.length;
    if (this.#bytes >= 65536) this.flush();
  }
  flush(): void {
    if (this.#parts.length > 0) this.write(this.#parts.join(''));
    this.#parts = [];
    this.#bytes = 0;
  }
}

/** boost::lexical_cast<uint64_t>: decimal digits only, within 64 bits. */
function parseU64(s: string): bigint | undefined {
  if (!/^\+?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < 2n ** 64n ? v : undefined;
}

/** The ranges of one delta written as thin_delta writes them (simple or verbose emitter). */
async function emitDiff(md: ThinMetadata, left: number, right: number, verbose: boolean, out: Chunked): Promise<void> {
  if (!verbose) {
    // simple_emitter: a range joins the previous one when it has the same kind and follows it.
    let cur: { kind: ThinDeltaKind; begin: bigint; end: bigint } | undefined;
    const emit = () => {
      if (cur) out.add(`    <${TAG[cur.kind]} begin="${cur.begin}" length="${cur.end - cur.begin}"/>\n`);
    };
    for await (const batch of thinDeltaBatches(md, left, right)) {
      for (const r of batch) {
        if (cur && cur.kind === r.kind && cur.end === r.thinBlock) {
          cur.end += r.lengthBlocks;
          continue;
        }
        emit();
        cur = { kind: r.kind, begin: r.thinBlock, end: r.thinBlock + r.lengthBlocks };
      }
    }
    emit();
    return;
  }
  // verbose_emitter: one element per run of one kind, a <range> per range.
  let open: ThinDeltaKind | undefined;
  for await (const batch of thinDeltaBatches(md, left, right)) {
    for (const r of batch) {
      if (open !== r.kind) {
        if (open) out.add(`    </${TAG[open]}>\n`);
        out.add(`    <${TAG[r.kind]}>\n`);
        open = r.kind;
      }
      const data = r.kind === 'different'
        ? ` left_data_begin="${r.leftDataBlock}" right_data_begin="${r.rightDataBlock}"`
        : ` data_begin="${r.kind === 'rightOnly' ? r.rightDataBlock : r.leftDataBlock}"`;
      out.add(`      <range begin="${r.thinBlock}"${data} length="${r.lengthBlocks}"/>\n`);
    }
  }
  if (open) out.add(`    </${TAG[open]}>\n`);
}

/** Runs `dmctl thin delta <argv…>` (thin_delta's argv), on metadata opened by `open`. */
export async function runThinDelta(argv: readonly string[], io: Pick<CliIo, 'stdout' | 'stderr'>, open: ThinMetadataOpener = openThinMetadataFile): Promise<number> {
  const die = (msg: string) => {
    io.stderr(`${msg}\n${thinDeltaUsage()}`);
    return 1;
  };
  const parsed = getoptLong('thin_delta', argv, 'hVm::', [
      { name: 'help', arg: 'none', key: 'h' }, { name: 'version', arg: 'none', key: 'V' },
      { name: 'thin1', arg: 'required', key: '1' }, { name: 'snap1', arg: 'required', key: '1' },
      { name: 'thin2', arg: 'required', key: '2' }, { name: 'snap2', arg: 'required', key: '2' },
      { name: 'metadata-snap', arg: 'optional', key: 'm' }, { name: 'verbose', arg: 'none', key: 'verbose' },
    ]);
  if ('error' in parsed) {
    io.stderr(`${parsed.error}\n${thinDeltaUsage()}`);
    return 1;
  }
  let snap1: bigint | undefined;
  let snap2: bigint | undefined;
  let useSnap = false;
  let snapBlock: bigint | undefined;
  let verbose = false;
  for (const o of parsed.options) {
    switch (o.key) {
      case 'h': io.stdout(thinDeltaUsage()); return 0;
      case 'V': io.stdout('0.9.0\n'); return 0;
      case '1': if ((snap1 = parseU64(o.value!)) === undefined) return die(`Couldn't parse thin id 1: '${o.value}'`); break;
      case '2': if ((snap2 = parseU64(o.value!)) === undefined) return die(`Couldn't parse thin id 2: '${o.value}'`); break;
      case 'm':
        useSnap = true;
        if (o.value !== undefined && (snapBlock = parseU64(o.value)) === undefined) return die(`Couldn't parse metadata snapshot block: '${o.value}'`);
        break;
      case 'verbose': verbose = true; break;
    }
  }
  const path = parsed.operands[0];
  if (path === undefined) return die('No input device provided.');
  if (snap1 === undefined) return die('--snap1 not specified.');
  if (snap2 === undefined) return die('--snap2 not specified.');
  let md: ThinMetadata | undefined;
  const out = new Chunked((t) => io.stdout(t));
  let started = false;
  try {
    md = await open(path, {});
    if (useSnap) {
      const held = md.superblock.metadataSnapBlock;
      await md.close();
      md = undefined;
      if (held === 0n) return die('no current metadata snap');
      if (snapBlock !== undefined && snapBlock !== held) return die('metadata snapshot does not match that in superblock');
      md = await open(path, { metadataSnapBlock: held });
    }
    const ids = new Set((await md.devices()).map((d) => BigInt(d.thinId)));
    if (!ids.has(snap1)) return die(`Unable to find mapping tree for snap1 (${snap1})`);
    if (!ids.has(snap2)) return die(`Unable to find mapping tree for snap2 (${snap2})`);
    const sb = md.superblock;
    // A metadata snapshot records no space maps: thin_delta prints 0 data blocks for it.
    const nrDataBlocks = useSnap ? 0n : sb.dataBlockCount;
    const snapAttr = sb.metadataSnapBlock !== 0n ? `" metadata_snap="${sb.metadataSnapBlock}` : '';
    started = true;
    out.add(`<superblock uuid="" time="${sb.time}" transaction="${sb.transactionId}" data_block_size="${sb.dataBlockSizeSectors}" nr_data_blocks="${nrDataBlocks}${snapAttr}">\n`);
    out.add(`  <diff left="${snap1}" right="${snap2}">\n`);
    await emitDiff(md, Number(snap1), Number(snap2), verbose, out);
    out.add('  </diff>\n</superblock>\n');
    out.flush();
    return 0;
  } catch (e) {
    // thin_delta reads everything before it prints; this streams, so a damaged tree found
    // midway leaves the lines already written on stdout.
    if (started) out.flush();
    return die(thinToolMessage(e));
  } finally {
    await md?.close();
  }
}
