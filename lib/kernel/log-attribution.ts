/**
 * Which kernel log lines belong to a failed call. /dev/kmsg is shared by every client and
 * process, so the lines logged while a call ran can be anybody's; a line belongs to the
 * call only when it names the call's device, by number or by name, in one of the formats
 * recorded in docs/kernel-facts.md ("Kernel log lines"). Everything else seen in the
 * call's window is kept apart as unattributed — never shown as if it were about the call.
 */
import type { KernelLog } from './backend.js';

/** What is known of the failed call's device. */
export interface CallDevice {
  name?: string | undefined;
  uuid?: string | undefined;
  dev?: { readonly major: number; readonly minor: number } | undefined;
}

/**
 * dm_device_name() prefixes: "device-mapper: <module>: <major>:<minor>: …" (dm-table.c's
 * DMERR/DMWARN, e.g. "table: 254:0: linear: Device lookup failed").
 */
const BY_NUMBER = /^device-mapper: [^:]+: (\d+):(\d+): /;

/**
 * dm-ioctl.c messages that name the device by its name: the text before the name, and the
 * text that follows it (null: the name ends the line).
 */
const BY_NAME: readonly (readonly [string, string | null])[] = [
  ['device-mapper: ioctl: unable to remove open device ', null],
  ['device-mapper: ioctl: Unable to rename non-existent device, ', ' to '],
  ['device-mapper: ioctl: Unable to change name on mapped device ', ' to one that already exists: '],
  ['device-mapper: ioctl: Unable to change uuid on mapped device ', ' to one that already exists: '],
  ['device-mapper: ioctl: Unable to change uuid of mapped device ', ' to '],
];

function byNumber(line: string): { major: number; minor: number } | undefined {
  const m = BY_NUMBER.exec(line);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

function namesByName(line: string): boolean {
  return BY_NAME.some(([before]) => line.startsWith(before));
}

function namesThis(line: string, name: string): boolean {
  return BY_NAME.some(([before, after]) =>
    after === null ? line === before + name : line.startsWith(before + name + after));
}

/**
 * Lines a target's message handler logs about a refused message. They name no device, but
 * they repeat the message's own arguments (dm-thin's `process_*_mesg`, `DM_MSG_PREFIX
 * "thin"`; docs/kernel-facts.md, "Lines that repeat a message"): per message verb, the
 * lines the kernel would print for that message's argv. Only these exact texts, so a line of
 * another message (another id, another verb) is not taken for this call's.
 */
const MESSAGE_ECHOES: Readonly<Record<string, (argv: readonly string[]) => readonly string[]>> = {
  create_thin: ([, id]) => [`thin: Creation of new thinly-provisioned device with id ${id} failed.`],
  create_snap: ([, id, origin]) => [`thin: Creation of new snapshot ${id} of device ${origin} failed.`],
  delete: ([, id]) => [`thin: Deletion of thin device ${id} failed.`],
  set_transaction_id: ([, from, to]) => [
    `thin: set_transaction_id message: Unrecognised id ${from}.`,
    `thin: set_transaction_id message: Unrecognised new id ${to}.`,
    `thin: Failed to change transaction id from ${from} to ${to}.`,
  ],
};

/** The lines a refused message `text` may have logged about itself (none for a message without such lines). */
function messageEchoes(text: string | undefined): ReadonlySet<string> | undefined {
  if (text === undefined) return undefined;
  const argv = text.trim().split(/\s+/);
  const echo = Object.hasOwn(MESSAGE_ECHOES, argv[0]!) ? MESSAGE_ECHOES[argv[0]!] : undefined;
  return echo && new Set(echo(argv).map((l) => `device-mapper: ${l}`));
}

/** Whether any line names some device by number, or by name (so the call's own number or name is worth learning). */
export function deviceMentions(lines: readonly string[]): { byNumber: boolean; byName: boolean } {
  return { byNumber: lines.some((l) => byNumber(l) !== undefined), byName: lines.some(namesByName) };
}

/**
 * Splits lines into those naming `device` and the rest (in log order). `message`: the text
 * of a failed DM_TARGET_MSG, whose target's lines about it repeat its arguments instead of
 * naming the device.
 */
export function attributeLines(lines: readonly string[], device: CallDevice | undefined, message?: string): { own: string[]; other: string[] } {
  const own: string[] = [];
  const other: string[] = [];
  const echoes = messageEchoes(message);
  for (const line of lines) {
    const n = byNumber(line);
    const mine = device !== undefined && (n
      ? device.dev !== undefined && n.major === device.dev.major && n.minor === device.dev.minor
      : (device.name !== undefined && device.name !== '' && namesThis(line, device.name)) || echoes?.has(line) === true);
    (mine ? own : other).push(line);
  }
  return { own, other };
}

/**
 * The kernel log seen through a window per call. `mark()` at the start of a call costs
 * nothing (no syscall); `since(mark)` reads what is new and returns every line read after
 * the mark — also lines another failing call of this client read first, which a plain
 * "take what is new" would have handed to that call alone. Lines logged before the mark
 * but read only after it are in the window too: a cursor per call would cost a read of
 * /dev/kmsg per ioctl. Attribution (above) keeps them out of the call's own lines unless
 * they name its device.
 */
export class KernelLogWindow {
  #gen = 0;
  #ring: { gen: number; text: string }[] = [];

  constructor(private readonly log: KernelLog, private readonly capacity = 256) {}

  mark(): number {
    return this.#gen;
  }

  since(mark: number): string[] {
    const fresh = this.log.take();
    if (fresh.length > 0) {
      this.#gen++;
      for (const text of fresh) this.#ring.push({ gen: this.#gen, text });
      if (this.#ring.length > this.capacity) this.#ring.splice(0, this.#ring.length - this.capacity);
    }
    return this.#ring.filter((l) => l.gen > mark).map((l) => l.text);
  }
}
