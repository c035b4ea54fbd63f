/**
 * dm-verity forward error correction: the entry of lib/verity's FEC modules (the library
 * root re-exports from here). docs/verity-fec.md has the format.
 */
export { computeFec, repairWithFec, verifyFec } from './fec.js';
export type {
  ComputeFecOptions, ComputeFecResult, FecPassOptions, FecProgress, FecReader, FecRepairedBlock, FecWriter,
  RepairWithFecOptions, VerifyFecOptions, VerifyFecResult,
} from './fec.js';
export { fecLayout, veritysetupFecCoverage } from './fec-layout.js';
export type { FecLayout, FecLayoutInput, VeritysetupFecCoverageInput } from './fec-layout.js';
export { DmVerityFecError, type DmVerityFecErrorCode } from '../errors.js';
