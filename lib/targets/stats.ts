/**
 * `@stats_*` messages (statistics.rst), which every dm device accepts whatever its targets.
 * Send with `DeviceMapper.message(device, 0, …)`.
 */
import { z } from 'zod';
import { checked } from './schemas.js';

const region = z.union([z.literal('-'), z.string().regex(/^\d+\+\d+$/, '<start>+<length> or -')]);
const step = z.union([z.string().regex(/^\/\d+$/, '/<n> or <sectors>'), z.number().int().min(1)]);
const id = z.number().int().min(0);
const word = z.string().regex(/^\S+$/, 'one word without whitespace');

/** dm-stats messages (`@stats_*`), with validated arguments. */
export const statsMessage = {
  /** `@stats_create <range> <step> [<#args> <args>…] [<program_id> [<aux_data>]]`. */
  create: (range: string, areaStep: string | number, programId?: string): string =>
    `@stats_create ${checked(region, range, 'stats', 'range')} ${checked(step, areaStep, 'stats', 'areaStep')}${programId === undefined ? '' : ` ${checked(word, programId, 'stats', 'programId')}`}`,
  /** `@stats_delete`: removes a region. */
  delete: (regionId: number): string => `@stats_delete ${checked(id, regionId, 'stats', 'regionId')}`,
  /** `@stats_clear`: zeroes a region's counters. */
  clear: (regionId: number): string => `@stats_clear ${checked(id, regionId, 'stats', 'regionId')}`,
  /** `@stats_list`: lists the regions (of one program). */
  list: (programId?: string): string => (programId === undefined ? '@stats_list' : `@stats_list ${checked(word, programId, 'stats', 'programId')}`),
  /** `@stats_print`: a region's counters. */
  print: (regionId: number, firstLine?: number, lines?: number): string =>
    `@stats_print ${checked(id, regionId, 'stats', 'regionId')}${firstLine === undefined ? '' : ` ${checked(id, firstLine, 'stats', 'firstLine')} ${checked(id, lines === undefined ? 1 : lines, 'stats', 'lines')}`}`,
  /** `@stats_print_clear`: a region's counters, then zeroes them. */
  printClear: (regionId: number): string => `@stats_print_clear ${checked(id, regionId, 'stats', 'regionId')}`,
} as const;

/** One line of `@stats_print` output: the area's start+length and its 11 (or more) counters. */
export interface StatsArea {
  /** Where the area starts on the device, in 512-byte sectors. */
  readonly startSectors: bigint;
  /** The area's length in 512-byte sectors. */
  readonly lengthSectors: bigint;
  readonly counters: readonly bigint[];
}

/** Parses `@stats_print` output; lines that do not fit are skipped. */
export function parseStatsPrint(text: string): StatsArea[] {
  checked(z.string(), text, 'stats', 'text');
  const out: StatsArea[] = [];
  for (const line of text.split('\n')) {
    // Words first, then one bounded pattern per word: a pattern over the whole line
    // (`(?:\s+\d{1,20})+\s*$`) nests quantifiers, which the regex audit forbids.
    const [area, ...counters] = line.trim().split(/\s+/);
    const m = /^(\d{1,20})\+(\d{1,20})$/.exec(area!);
    if (!m || counters.length === 0 || !counters.every((x) => /^\d{1,20}$/.test(x))) continue;
    out.push({ startSectors: BigInt(m[1]!), lengthSectors: BigInt(m[2]!), counters: counters.map((x) => BigInt(x)) });
  }
  return out;
}
