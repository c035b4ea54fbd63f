// A program that imports only `DeviceMapper` from the root: run.sh compiles it with
// `--listFiles` and fails when it loads any of zod's declaration files (the root's types name
// no zod type; the target schemas' zod types are devicemapper/define-target's).
import { DeviceMapper, type TypedTargetOf } from 'devicemapper';

export async function versionOf(): Promise<string> {
  await using dm = await DeviceMapper.open();
  return (await dm.version()).join('.');
}

// The typed target input is a named interface (ThinPoolTarget), declared without zod.
export const pool: TypedTargetOf<'thin-pool'> = {
  start: 0, length: 8, type: 'thin-pool', metadataDevice: '7:0', dataDevice: '7:1', blockSizeSectors: 128, lowWaterMarkBlocks: 10n,
};
