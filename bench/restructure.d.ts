/**
 * Minimal types for `restructure` 3 (a devDependency used only as a test oracle and a
 * benchmark comparison; it ships no declarations).
 */
declare module 'restructure' {
  export class DecodeStream {
    constructor(buffer: Uint8Array);
    buffer: Uint8Array;
    pos: number;
    length: number;
    readUInt32LE(): number;
    readUInt32BE(): number;
  }
  export class EncodeStream {
    constructor(buffer: Uint8Array);
    buffer: Uint8Array;
    pos: number;
    writeUInt32LE(v: number): void;
    writeUInt32BE(v: number): void;
  }
  export interface RType {
    size(val?: unknown, parent?: unknown): number;
    decode(stream: DecodeStream, parent?: unknown): any;
    encode(stream: EncodeStream, val: any, parent?: unknown): void;
  }
  /** Not exported at runtime: only the type of the exported classes. */
  export interface Base extends RType {
    fromBuffer(buffer: Uint8Array): any;
    toBuffer(value: unknown): Uint8Array;
  }
  export class Struct { constructor(fields: Record<string, RType>) }
  export interface Struct extends Base {}
  export class Array { constructor(type: RType, length: number) }
  export interface Array extends Base {}
  export class Buffer { constructor(length: number) }
  export interface Buffer extends Base {}
  export class Reserved { constructor(type: RType, count?: number) }
  export interface Reserved extends Base {}
  export class String { constructor(length: number | null, encoding?: string) }
  export interface String extends Base {}
  export const uint8: Base;
  export const uint32le: Base;
  export const uint32be: Base;
  export const int32le: Base;
  export const int32be: Base;
}
