/**
 * devicemapper/codec — the byte-exact layout codec of the device-mapper ioctl interface.
 * Pure: no Node APIs, no I/O; runs in any JavaScript runtime.
 */
export * from './constants.js';
export * from './errors.js';
export * from './endian.js';
export * from './dev.js';
export * from './layout.js';
export * from './records.js';
export * from './types.js';
export { createCodec, replyFlags, type DecodeOptions, type DmCodec, type EncodeOptions } from './commands.js';
export {
  COMMAND_TABLE, COMMANDS, commandByNumber, commandNumber, commandSpec, isCommand, requestCode,
  type CommandSpec, type CommandTable, type ReplyKind, type RequestPayload,
} from './command-table.js';
export {
  nameRecordSize, targetVersionRecordSize, writeCString, writeNameList, writeStatusChain, writeTargetDeps, writeTargetVersions,
  type NameRecord, type StatusChain, type StatusRecord, type TargetVersionRecord,
} from './reply-chains.js';
export { escapeParams, prepareTable, wipePreparedTable, type PreparedTable } from './payload.js';
export { carriesKeys, describeParams, describeTableLine, KEY_CARRYING_TARGETS, maskParamBytes, redactTableParams, scrubLogLines, tableCarriesKeys } from './secrets.js';
export { checkName, checkUuid, checkTargetType } from './validate.js';
export { isUtf8, printableName } from './text.js';
export { TRUSTED_REPLY_FIELDS } from './reply-fields.js';
export { fiemap, fiemapExtent } from './syscall-records.js';
export * from './thin-metadata-records.js';

import { createCodec } from './commands.js';
/** The host-endian codec, compiled once. */
export const codec = createCodec();
/** The host-endian codec's `encodeRequest` (see {@link DmCodec.encodeRequest}). */
export const encodeRequest = codec.encodeRequest;
/** The host-endian codec's `decodeReply` (see {@link DmCodec.decodeReply}). */
export const decodeReply = codec.decodeReply;
