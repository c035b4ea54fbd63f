/**
 * `dmctl ls --tree`: dmsetup's tree drawing (libdm/dm-tools/dmsetup.c of LVM2 2.03.16,
 * `_display_tree*`, `_out_*`, `_process_tree_options`), byte for byte, over a DeviceTree.
 *
 * Options (`-o`, comma-separated, each may be abbreviated: the first of device, blkdevname,
 * nodevice, status, table, active, open, uuid, rw, utf, vt100, ascii, inverted, compact,
 * notrunc that starts with it wins, as in 2.03.16): drawing characters ascii/utf/vt100
 * (default utf in a UTF-8 locale, else ascii), `inverted` (bottom-up), `compact`, `notrunc`,
 * `[no]device` (major:minor, on by default), `blkdevname` (<dm-0>), `active`, `open`, `rw`,
 * `uuid` (attributes in brackets). dmsetup accepts `table` and `status` but prints nothing
 * for them (its `_display_tree_targets` is empty); they only turn `compact` off, here too.
 * Lines are cut at the terminal width - 3 (80 when stdout is not a terminal) unless `notrunc`.
 */
import type { DeviceInfo, DeviceTree, SysfsDeviceInfo, TreeNode } from '../lib/index.js';

/** A tree from the ioctl API, or from sysfs when the control node refused this user (cli/sysfs-fallback.ts). */
export type AnyTree = DeviceTree<DeviceInfo> | DeviceTree<SysfsDeviceInfo>;
/** A node of either. */
export type AnyNode = TreeNode<DeviceInfo> | TreeNode<SysfsDeviceInfo>;
import { deviceName } from './format.js';
import { TreeOptionError } from './errors.js';

const enum TR { DEVICE, BLKDEVNAME, TABLE, STATUS, ACTIVE, RW, OPENCOUNT, UUID, COMPACT, TRUNCATE, BOTTOMUP, COUNT }

interface Symbols { empty2: string; branch2: string; vert2: string; last2: string; single3: string; first3: string }

const ASCII: Symbols = { empty2: '  ', branch2: '|-', vert2: '| ', last2: '`-', single3: '---', first3: '-+-' };
// pstree's UTF-8 line drawing (U+2502, U+251C, U+2500, U+2514, U+252C).
const UTF: Symbols = {
  empty2: '  ', branch2: '\u251c\u2500', vert2: '\u2502 ', last2: '\u2514\u2500', single3: '\u2500\u2500\u2500', first3: '\u2500\u252c\u2500',
};
const VT_BEG = '\x1b(0\x0f';
const VT_END = '\x1b(B';
const VT100: Symbols = {
  empty2: '  ', branch2: `${VT_BEG}tq${VT_END}`, vert2: `${VT_BEG}x${VT_END} `, last2: `${VT_BEG}mq${VT_END}`,
  single3: `${VT_BEG}qqq${VT_END}`, first3: `${VT_BEG}qwq${VT_END}`,
};

const MAX_DEPTH = 100;

/** The tree options as parsed: switches and symbols. */
export interface TreeOptions {
  readonly switches: readonly boolean[];
  readonly symbols: Symbols;
  readonly termWidth: number;
}

/** 2.03.16's option words, in the order its parser tries them (a prefix picks the first match). */
const WORDS: readonly [string, (s: boolean[], set: (y: Symbols) => void) => void][] = [
  ['device', (s) => { s[TR.DEVICE] = true; }],
  ['blkdevname', (s) => { s[TR.BLKDEVNAME] = true; }],
  ['nodevice', (s) => { s[TR.DEVICE] = false; }],
  ['status', (s) => { s[TR.STATUS] = true; }],
  ['table', (s) => { s[TR.TABLE] = true; }],
  ['active', (s) => { s[TR.ACTIVE] = true; }],
  ['open', (s) => { s[TR.OPENCOUNT] = true; }],
  ['uuid', (s) => { s[TR.UUID] = true; }],
  ['rw', (s) => { s[TR.RW] = true; }],
  ['utf', (_s, set) => set(UTF)],
  ['vt100', (_s, set) => set(VT100)],
  ['ascii', (_s, set) => set(ASCII)],
  ['inverted', (s) => { s[TR.BOTTOMUP] = true; }],
  ['compact', (s) => { s[TR.COMPACT] = true; }],
  ['notrunc', (s) => { s[TR.TRUNCATE] = false; }],
];

/** Whether the locale from the environment is UTF-8 (what dmsetup asks nl_langinfo(CODESET) after setlocale(LC_ALL, "")). */
export function utf8Locale(env: Readonly<Record<string, string | undefined>>): boolean {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /\.utf-?8(@|$)/i.test(locale);
}

/** `_process_tree_options`: the `-o` string (undefined: none given), the locale and the terminal width. */
export function parseTreeOptions(options: string | undefined, utf8: boolean, columns: number | undefined): TreeOptions {
  const switches: boolean[] = new Array<boolean>(TR.COUNT).fill(false);
  let symbols = utf8 ? UTF : ASCII;
  switches[TR.DEVICE] = true;
  switches[TR.TRUNCATE] = true;
  const text = options ?? '';
  for (let s = 0; s < text.length; s++) {
    let end = s;
    while (end < text.length && text[end] !== ',') end++;
    const word = text.slice(s, end);
    // strncmp(s, name, len) == 0: the word is a prefix of the name (the empty word matches the first).
    const hit = WORDS.find(([name]) => name.startsWith(word));
    if (!hit) throw new TreeOptionError(`Tree options not recognised: ${text.slice(s)}.`);
    hit[1](switches, (y) => { symbols = y; });
    if (end >= text.length) break;
    s = end;
  }
  // "Truncation doesn't work well with vt100 drawing char"
  const termWidth = symbols !== VT100 && columns !== undefined && columns > 3 ? columns - 3 : 80;
  return { switches, symbols, termWidth };
}

/** What a node shows: the name dmsetup prints ('' for a non-dm device) and its kernel block name. */
export interface TreeLabels {
  name(n: AnyNode): string;
  blkdevname(n: AnyNode): string | undefined;
}

/** The sysfs-backed labels: names as the CLI displays them, kernel names as libdm's dm_device_get_name(…, 1). */
export function sysfsLabels(sysfs: string, display: (n: AnyNode) => string): TreeLabels {
  return {
    name: (n) => (n.kind === 'dm' ? display(n) : ''),
    blkdevname: (n) => deviceName(sysfs, n.dev, true, -1),
  };
}

/** Draws the tree exactly as `dmsetup ls --tree` with these options does. */
export function drawTree(tree: AnyTree, o: TreeOptions, labels: TreeLabels): string {
  const sw = o.switches;
  const sym = o.symbols;
  const printAttribute = sw[TR.ACTIVE] || sw[TR.RW] || sw[TR.OPENCOUNT] || sw[TR.UUID];
  const printTargets = sw[TR.TABLE] || sw[TR.STATUS];
  const compact = sw[TR.COMPACT] && !printAttribute && !printTargets;
  const inverted = sw[TR.BOTTOMUP];
  const width = new Array<number>(MAX_DEPTH).fill(0);
  const more = new Array<number>(MAX_DEPTH).fill(0);
  const out: number[] = []; // bytes, as putchar() writes them
  let curX = 1;
  let lastChar = 0;
  const DOTS = [0x2e, 0x2e, 0x2e];

  // _out_char on the UTF-8 bytes: only a byte that starts a character moves the column.
  const outString = (str: string) => {
    for (const ch of str) {
      const bytes = Buffer.from(ch, 'utf8');
      for (let i = 0; i < bytes.length; i++) {
        const c = bytes[i]!;
        const starts = (c & 0xc0) !== 0x80;
        if (starts) curX++;
        if (!sw[TR.TRUNCATE]) { out.push(c); continue; }
        if (curX <= o.termWidth) out.push(c);
        if (curX === o.termWidth + 1 && starts) {
          // The 80th character is held back: printed if the line ends there, else "...".
          if (lastChar || (c & 0x80)) out.push(...DOTS);
          else { lastChar = c; curX--; }
        }
      }
    }
  };
  const newline = () => {
    if (lastChar && curX === o.termWidth) out.push(lastChar);
    lastChar = 0;
    out.push(0x0a);
    curX = 1;
  };
  const prefix = (depth: number) => {
    for (let d = 0; d < depth; d++) {
      outString(' '.repeat(width[d]! + 1));
      outString(d === depth - 1 ? (!more[depth] ? sym.last2 : sym.branch2) : (more[d + 1] ? sym.vert2 : sym.empty2));
    }
  };
  const attributes = (n: AnyNode) => {
    const info = n.info;
    if (!info) return; // not a mapped device: libdm's info.exists is 0
    let attr = 0;
    const delim = () => outString(attr++ ? ', ' : ' [');
    if (sw[TR.ACTIVE]) { delim(); outString(info.flags.suspended ? 'SUSPENDED' : 'ACTIVE'); }
    if (sw[TR.RW]) { delim(); outString(info.flags.readOnly ? 'RO' : 'RW'); }
    if (sw[TR.OPENCOUNT]) { delim(); outString(info.openCount === undefined ? 'unknown' : String(info.openCount >>> 0)); }
    if (sw[TR.UUID]) { delim(); outString(n.uuid ?? ''); }
    if (attr) outString(']');
  };
  const node = (n: AnyNode, depth: number, last: boolean, hasChildren: boolean) => {
    if (depth + 2 > MAX_DEPTH) return;
    const name = labels.name(n);
    if (!name && !sw[TR.DEVICE] && !sw[TR.BLKDEVNAME]) return;
    more[depth] = last ? 0 : 1;
    width[depth] = 0;
    const firstOnLine = curX === 1;
    if (!compact || firstOnLine) prefix(depth);
    const offset = curX;
    if (compact && !firstOnLine) outString(more[depth] ? sym.first3 : sym.single3);
    outString(name);
    const blk = sw[TR.BLKDEVNAME] ? labels.blkdevname(n) : undefined;
    // dm_tree_node_get_name() is never NULL (a non-dm node has ""): the space is always there.
    if (blk !== undefined) outString(` <${blk}>`);
    if (sw[TR.DEVICE]) outString(` (${n.dev.major}:${n.dev.minor})`);
    if (printAttribute) attributes(n);
    if (compact) width[depth] = curX - offset;
    if (!compact || !hasChildren) newline();
    if (printTargets) more[depth + 1] = hasChildren ? 1 : 0;
  };
  const kids = (n: AnyNode | undefined) => (n === undefined ? (inverted ? tree.leaves : tree.roots) : inverted ? n.parents : n.children);
  const walk = (parent: AnyNode | undefined, depth: number) => {
    const list = kids(parent);
    list.forEach((child, i) => {
      const hasChildren = kids(child).length > 0;
      node(child, depth, i === list.length - 1, hasChildren);
      if (hasChildren) walk(child, depth + 1);
    });
  };
  walk(undefined, 0);
  // A cut never splits a UTF-8 sequence (a cut lead byte drops its continuation bytes too).
  return Buffer.from(out).toString('utf8');
}
