/**
 * `dmctl thin dump`: thin_dump (thin-provisioning-tools 0.9.0, thin_dump.cc) on the
 * library's metadata reader: the same options parsed as its getopt_long parses them
 * (`hm::o:f:rV`, long options by unambiguous prefix, operands anywhere), the same stdout
 * byte for byte, the same exit statuses (0, 1), and its error lines where they are its own.
 * `--repair` reads an intact superblock and leaves damaged subtrees out, as thin_dump's
 * damage visitor does; with a damaged superblock it fails, where thin_dump would search the
 * whole device for candidate roots (metadata_dumper.cc's gatherer), which this reader does not do.
 */
import * as fs from 'node:fs';
import { DmBaseError, DmThinMetadataError, openThinMetadata, thinDumpText, type ThinDumpOptions } from '../lib/thin-metadata/public.js';
import type { CliIo } from './context.js';

/** thin_dump's usage text. */
export function thinDumpUsage(): string {
  return 'Usage: thin_dump [options] {device|file}\n'
    + 'Options:\n'
    + '  {-h|--help}\n'
    + '  {-f|--format} {xml|human_readable|custom}\n'
    + '  {-r|--repair}\n'
    + '  {-m|--metadata-snap} [block#]\n'
    + '  {-o <xml file>}\n'
    + '  {--dev-id} <dev-id>\n'
    + '  {--skip-mappings}\n'
    + '  {-V|--version}\n';
}

/** The version thin_dump -V prints (the one whose output this matches). */
export const THIN_DUMP_VERSION = '0.9.0';

const LONG: readonly { name: string; arg: 'none' | 'required' | 'optional'; key: string }[] = [
  { name: 'help', arg: 'none', key: 'h' },
  { name: 'metadata-snap', arg: 'optional', key: 'm' },
  { name: 'output', arg: 'required', key: 'o' },
  { name: 'format', arg: 'required', key: 'f' },
  { name: 'repair', arg: 'none', key: 'r' },
  { name: 'dev-id', arg: 'required', key: 'dev-id' },
  { name: 'skip-mappings', arg: 'none', key: 'skip-mappings' },
  { name: 'transaction-id', arg: 'required', key: 'transaction-id' },
  { name: 'data-block-size', arg: 'required', key: 'data-block-size' },
  { name: 'nr-data-blocks', arg: 'required', key: 'nr-data-blocks' },
  { name: 'version', arg: 'none', key: 'V' },
];
const SHORT: Record<string, 'none' | 'required' | 'optional'> = { h: 'none', m: 'optional', o: 'required', f: 'required', r: 'none', V: 'none' };

/** getopt_long over thin_dump's options: the options in order, the operands, or glibc's error line. */
function getopt(argv: readonly string[]): { options: { key: string; value: string | undefined }[]; operands: string[] } | string {
  const options: { key: string; value: string | undefined }[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { operands.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const exact = LONG.find((o) => o.name === name);
      const matches = exact ? [exact] : LONG.filter((o) => o.name.startsWith(name));
      if (matches.length === 0) return `thin_dump: unrecognized option '${a}'`;
      if (matches.length > 1) return `thin_dump: option '${a}' is ambiguous`;
      const o = matches[0]!;
      if (o.arg === 'none' && eq >= 0) return `thin_dump: option '--${o.name}' doesn't allow an argument`;
      let value = eq >= 0 ? a.slice(eq + 1) : undefined;
      if (o.arg === 'required' && value === undefined) {
        if (i + 1 >= argv.length) return `thin_dump: option '--${o.name}' requires an argument`;
        value = argv[++i];
      }
      options.push({ key: o.key, value });
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const kind = SHORT[c];
        if (kind === undefined) return `thin_dump: invalid option -- '${c}'`;
        if (kind === 'none') { options.push({ key: c, value: undefined }); continue; }
        let value: string | undefined = a.slice(j + 1) || undefined;
        if (kind === 'required' && value === undefined) {
          if (i + 1 >= argv.length) return `thin_dump: option requires an argument -- '${c}'`;
          value = argv[++i];
        }
        options.push({ key: c, value });
        break;
      }
    } else {
      operands.push(a);
    }
  }
  return { options, operands };
}

/** strtoull(s, &end, 10) as thin_dump uses it: the leading digits (after blanks and a sign), or undefined when none. */
function strtoull(s: string): bigint | undefined {
  const m = /^\s*([+-]?)(\d+)/.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[2]!) % (1n << 64n);
  return m[1] === '-' ? ((1n << 64n) - v) % (1n << 64n) : v;
}

/** boost::lexical_cast<uint64_t>: the whole string decimal digits, else thin_dump's "Couldn't parse" line. */
function parseU64(s: string, desc: string): bigint | string {
  return /^\d+$/.test(s) && BigInt(s) < 1n << 64n ? BigInt(s) : `Couldn't parse ${desc}: '${s}'`;
}

/** The message thin_dump would print for `e` (its own where this reader has the same case). */
function message(e: unknown): string {
  if (e instanceof DmBaseError && e.code === 'ENOENT') return "Couldn't stat path";
  return e instanceof Error ? e.message : String(e);
}

/** Runs `dmctl thin dump <argv>`; resolves to thin_dump's exit status. */
export async function runThinDump(argv: readonly string[], io: Pick<CliIo, 'stdout' | 'stderr'>): Promise<number> {
  const g = getopt(argv);
  if (typeof g === 'string') {
    io.stderr(`${g}\n${thinDumpUsage()}`);
    return 1;
  }
  let format = 'xml';
  let metadataSnap: boolean | bigint = false;
  let output: string | undefined;
  const devIds: number[] = [];
  let skipMappings = false;
  let repair = false;
  const overrides: { transactionId?: bigint; dataBlockSizeSectors?: number; nrDataBlocks?: bigint } = {};
  for (const { key, value } of g.options) {
    switch (key) {
      case 'h': io.stdout(thinDumpUsage()); return 0;
      case 'V': io.stdout(`${THIN_DUMP_VERSION}\n`); return 0;
      case 'f': format = value!; break;
      case 'r': repair = true; break;
      case 'm':
        metadataSnap = true;
        if (value !== undefined) {
          const b = strtoull(value);
          if (b === undefined) { io.stderr(`couldn't parse <metadata-snap>\n${thinDumpUsage()}`); return 1; }
          metadataSnap = b;
        }
        break;
      case 'o': output = value; break;
      case 'dev-id': {
        const id = strtoull(value!);
        if (id === undefined) { io.stderr(`couldn't parse <dev-id>\n${thinDumpUsage()}`); return 1; }
        if (id <= 0xffffffn) devIds.push(Number(id));
        else devIds.push(-1); // selects nothing the metadata holds (a thin id has 24 bits)
        break;
      }
      case 'skip-mappings': skipMappings = true; break;
      case 'transaction-id': case 'data-block-size': case 'nr-data-blocks': {
        const v = parseU64(value!, key.replace(/-/g, ' '));
        if (typeof v === 'string') { io.stderr(`${v}\n`); return 1; }
        if (key === 'transaction-id') overrides.transactionId = v;
        else if (key === 'nr-data-blocks') overrides.nrDataBlocks = v;
        else overrides.dataBlockSizeSectors = Number(v & 0xffffffffn);
        break;
      }
    }
  }
  if (g.operands.length === 0) {
    io.stderr(`No input file provided.\n${thinDumpUsage()}`);
    return 1;
  }
  if (format !== 'xml' && format !== 'human_readable') {
    io.stderr(format.startsWith('custom=') ? 'dmctl thin dump: custom emitters (shared libraries) are not supported\n' : `unknown format '${format}'\n`);
    return 1;
  }
  const fd = output === undefined ? undefined : fs.openSync(output, 'w');
  const write = fd === undefined ? io.stdout : (t: string) => { fs.writeSync(fd, t); };
  try {
    await using md = await openThinMetadata(g.operands[0]!, { metadataSnap });
    const opts: ThinDumpOptions = { format, skipMappings, repair, devIds: devIds.length > 0 ? devIds.filter((x) => x >= 0) : undefined, ...overrides };
    for await (const chunk of thinDumpText(md, opts)) write(chunk);
    return 0;
  } catch (e) {
    io.stderr(`${message(e)}\n`);
    // Only a damaged superblock is what --repair cannot get past (a missing file, an abort: not).
    if (repair && e instanceof DmThinMetadataError && e.code === 'THIN_METADATA_CORRUPT' && e.block === 0n) {
      io.stderr('dmctl thin dump: --repair needs an intact superblock (thin_dump --repair would search the device for candidate roots)\n');
    }
    return 1;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
