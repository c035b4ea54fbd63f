/**
 * `@stats_*` messages (statistics.rst), which every dm device accepts whatever its targets.
 * Send with `DeviceMapper.message(device, 0, …)`.
 */
import { z } from 'zod';

const region = z.union([z.literal('-'), z.string().regex(/^\d+\+\d+$/, '<start>+<length> or -')]);
const step = z.union([z.string().regex(/^\/\d+$/, '/<n> or <sectors>'), z.number().int().min(1)]);
const id = z.number().int().min(0);

export const statsMessage = {
  /** `@stats_create <range> <step> [<#args> <args>…] [<program_id> [<aux_data>]]`. */
  create: (range: string, areaStep: string | number, programId?: string): string =>
    `@stats_create ${region.parse(range)} ${step.parse(areaStep)}${programId === undefined ? '' : ` ${z.string().regex(/^\S+$/).parse(programId)}`}`,
  delete: (regionId: number): string => `@stats_delete ${id.parse(regionId)}`,
  clear: (regionId: number): string => `@stats_clear ${id.parse(regionId)}`,
  list: (programId?: string): string => (programId === undefined ? '@stats_list' : `@stats_list ${programId}`),
  print: (regionId: number, startLine?: number, lines?: number): string =>
    `@stats_print ${id.parse(regionId)}${startLine === undefined ? '' : ` ${id.parse(startLine)} ${id.parse(lines ?? 1)}`}`,
  printClear: (regionId: number): string => `@stats_print_clear ${id.parse(regionId)}`,
} as const;

/** One line of `@stats_print` output: the area's start+length and its 11 (or more) counters. */
export interface StatsArea {
  readonly start: bigint;
  readonly length: bigint;
  readonly counters: readonly bigint[];
}

/** Parses `@stats_print` output; lines that do not fit are skipped. */
export function parseStatsPrint(text: string): StatsArea[] {
  const out: StatsArea[] = [];
  for (const line of text.split('\n')) {
    // Words first, then one bounded pattern per word: a pattern over the whole line
    // (`(?:\s+\d{1,20})+\s*$`) nests quantifiers, which the regex audit forbids.
    const [area, ...counters] = line.trim().split(/\s+/);
    const m = /^(\d{1,20})\+(\d{1,20})$/.exec(area!);
    if (!m || counters.length === 0 || !counters.every((x) => /^\d{1,20}$/.test(x))) continue;
    out.push({ start: BigInt(m[1]!), length: BigInt(m[2]!), counters: counters.map((x) => BigInt(x)) });
  }
  return out;
}
