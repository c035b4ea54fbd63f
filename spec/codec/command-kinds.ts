/** Spec helpers over the command table (one definition each, read from codec/command-table.ts). */
import { COMMAND_TABLE, type CommandName } from '../../codec/index.js';

/**
 * Commands whose reply is the version only (reply kind 'version'): the decoder reads the
 * first 12 bytes and nothing else, and the kernel writes nothing else that means anything.
 */
export function versionOnly(command: CommandName): boolean {
  return COMMAND_TABLE[command].reply === 'version';
}
