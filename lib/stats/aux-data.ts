/**
 * dm-stats aux_data as libdm reads and writes it (docs/stats.md): the word escaping of a
 * message argument, the group descriptor `DMS_GROUP=<alias>:<members>#<user data>` and the
 * region-id lists in range notation (`0-2,5`).
 */
import { DmArgumentError } from '../errors.js';
import { arrayArg, objectArgOf, regionIdArg, stringArg } from './checks.js';

const GROUP_TAG = 'DMS_GROUP=';

/**
 * Escapes a word for a `@stats_*` message as libdm does since it accepts whitespace in
 * group aliases: space, tab and backslash get a backslash (the kernel's argument splitter
 * removes it again). Other whitespace would still split the word, so it is refused.
 */
export function escapeStatsWord(value: string, argument: string): string {
  if (/[\n\r\v\f\0]/.test(value)) throw new DmArgumentError(argument, 'text without newlines, carriage returns, vertical tabs, form feeds or NUL', JSON.stringify(value));
  return value.replace(/[ \t\\]/g, (c) => `\\${c}`);
}

/** Parses a region-id list (`1,3-5`), as `dm_bitset_parse_list`; ids are returned sorted, once each. */
export function parseRegionList(text: string, argument = 'members'): number[] {
  stringArg(text, argument);
  const ids = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$/.exec(part);
    if (!m) throw new DmArgumentError(argument, 'a list of region ids such as "0,2-4"', JSON.stringify(text));
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new DmArgumentError(argument, 'ranges written low-high', JSON.stringify(text));
    for (let i = a; i <= b; i++) ids.add(i);
  }
  return [...ids].sort((x, y) => x - y);
}

/** Formats region ids in libdm's range notation (`_stats_group_tag_fill`): runs as `a-b`, joined by commas. */
export function formatRegionList(ids: readonly number[]): string {
  const sorted = [...new Set(arrayArg(ids, 'ids', regionIdArg))].sort((x, y) => x - y);
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** A region's aux_data split into its group descriptor (when it has one) and the user's data. */
export interface ParsedAuxData {
  /** The group this region leads, when its aux_data holds a descriptor. */
  readonly group?: { readonly alias: string; readonly members: readonly number[] } | undefined;
  /** The user's part of aux_data ('' when none: the kernel's `-`). */
  readonly userData: string;
  /** Set when a descriptor was found but could not be read (libdm logs and keeps the text). */
  readonly malformed?: boolean;
}

/**
 * Splits aux_data as libdm's `_parse_aux_data_group` does: the alias runs from
 * `DMS_GROUP=` to the first `:`, the members to the first `#`, the user data after it
 * (`-` meaning none). Without a tag the whole text (but `-`) is user data.
 */
export function parseAuxData(auxData: string): ParsedAuxData {
  stringArg(auxData, 'auxData');
  const raw = auxData === '-' ? '' : auxData;
  const at = raw.indexOf(GROUP_TAG);
  if (at < 0) return { userData: raw };
  const rest = raw.slice(at + GROUP_TAG.length);
  const colon = rest.indexOf(':');
  if (colon < 0) return { userData: raw, malformed: true };
  const alias = rest.slice(0, colon);
  const afterAlias = rest.slice(colon + 1);
  const hash = afterAlias.indexOf('#');
  const list = hash < 0 ? afterAlias : afterAlias.slice(0, hash);
  const user = hash < 0 ? '' : afterAlias.slice(hash + 1);
  let members: number[];
  try {
    members = parseRegionList(list);
  } catch {
    return { userData: raw, malformed: true };
  }
  return { group: { alias, members }, userData: user === '-' ? '' : user };
}

/**
 * The aux_data word `@stats_set_aux` carries for a region (`_stats_set_aux`): the group
 * descriptor and `#` when the region leads a group, then the user data or `-`; escaped.
 */
export function buildAuxData(userData: string, group?: { readonly alias: string; readonly members: readonly number[] }): string {
  stringArg(userData, 'userData');
  if (group !== undefined) {
    const g = objectArgOf(group, 'group', ['alias', 'members']);
    stringArg(g.alias, 'group.alias');
    if (arrayArg(g.members, 'group.members', regionIdArg).length === 0) throw new DmArgumentError('group.members', 'at least one region id', '[]');
  }
  const user = userData.length > 0 ? escapeStatsWord(userData, 'userData') : '-';
  if (!group) return user;
  if (group.alias.includes(':') || group.alias.includes('#')) throw new DmArgumentError('alias', 'an alias without ":" or "#" (the descriptor\'s separators)', JSON.stringify(group.alias));
  return `${escapeStatsWord(`${GROUP_TAG}${group.alias}:${formatRegionList(group.members)}`, 'alias')}#${user}`;
}
