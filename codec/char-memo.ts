/**
 * Which struct layouts remember the last string each of their char fields decoded
 * (codec/layout.ts, readChar). Only the package's own records whose char fields hold names,
 * uuids and target types (codec/records.ts) do: a layout someone else compiles may hold
 * text that should not outlive its buffer (a key, a passphrase), and keeps the plain
 * decode. Not exported from codec/index.ts.
 */
const remembering = new WeakSet<object>();

/** Marks `layout`'s char fields as remembering their last decoded string. */
export function rememberStrings<L extends object>(layout: L): L {
  remembering.add(layout);
  return layout;
}

/** Whether compile() gives `layout`'s char fields a memo. */
export function remembersStrings(layout: object): boolean {
  return remembering.has(layout);
}
