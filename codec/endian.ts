/** Byte order of a layout: the structs are raw C structs, so the kernel uses the host's. */
export type Endianness = 'little' | 'big';
/** A byte order, or `host` for the running machine's. */
export type EndianOption = Endianness | 'host';

/** Detected without Node APIs, so the codec runs in any JavaScript runtime. */
export const HOST_ENDIANNESS: Endianness =
  new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'little' : 'big';

/** Turns `host` (or no option) into the running machine's byte order. */
export function resolveEndian(e: EndianOption | undefined): Endianness {
  return e === undefined || e === 'host' ? HOST_ENDIANNESS : e;
}
