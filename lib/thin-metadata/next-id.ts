/**
 * The next free thin id, from the metadata itself (docs/thin-tools.md): every thin the pool
 * holds is in its device-details tree, active or not, so no id read from there can collide
 * the way an id chosen by scanning active tables can (an inactive thin holds its id too).
 */
import { DmArgumentError, DmOperationError } from '../errors.js';
import { checkMetadata, checkThinId, walkBounds } from './bounds.js';
import type { ThinMetadata, ThinReadOptions } from './types.js';

/** The highest thin id dm-thin takes (24 bits). */
export const MAX_THIN_ID = 0xffffff;

/** Options of `nextFreeThinId`. */
export interface NextFreeThinIdOptions extends ThinReadOptions {
  /**
   * `lowest` (default): the smallest id at or above `from` that no thin holds (a deleted
   * thin's id may come back). `aboveHighest`: one above the highest id held (and at or above
   * `from`), so an id is never given twice while thins above it exist.
   */
  readonly policy?: 'lowest' | 'aboveHighest' | undefined;
  /** The smallest id to give (default 0). */
  readonly from?: number | undefined;
}

/** The thin ids a metadata's device-details tree holds, ascending. */
export async function thinIdsInUse(metadata: ThinMetadata, options: ThinReadOptions = {}): Promise<number[]> {
  checkMetadata(metadata);
  const bounds = walkBounds(options, 'thinIdsInUse');
  return (await metadata.devices(bounds.read())).map((d) => d.thinId).sort((a, b) => a - b);
}

/** The first id of `policy` in `[from, MAX_THIN_ID]` no id of `used` (ascending) is. */
export function pickFreeThinId(used: readonly number[], policy: 'lowest' | 'aboveHighest', from: number): number | undefined {
  if (policy === 'aboveHighest') {
    const next = used.length === 0 ? from : Math.max(from, used[used.length - 1]! + 1);
    return next > MAX_THIN_ID ? undefined : next;
  }
  let candidate = from;
  for (const id of used) {
    if (id < candidate) continue;
    if (id > candidate) break;
    candidate++;
  }
  return candidate > MAX_THIN_ID ? undefined : candidate;
}

/**
 * The next thin id no thin of the metadata holds (active or not). A pool whose every id from
 * `from` is taken gives `DmOperationError` `POOL_STATE`. Between this read and a
 * `create_thin`, another process may take the id: `ThinPool.createThin` answers EEXIST then.
 */
export async function nextFreeThinId(metadata: ThinMetadata, options: NextFreeThinIdOptions = {}): Promise<number> {
  checkMetadata(metadata);
  walkBounds(options, 'nextFreeThinId');
  const policy = options.policy ?? 'lowest';
  if (policy !== 'lowest' && policy !== 'aboveHighest') throw new DmArgumentError('options.policy', "'lowest' or 'aboveHighest'", String(policy));
  const from = checkThinId(options.from ?? 0, 'options.from');
  const used = await thinIdsInUse(metadata, options);
  const id = pickFreeThinId(used, policy, from);
  if (id === undefined) throw new DmOperationError('POOL_STATE', `no free thin id from ${from} to ${MAX_THIN_ID} (${policy})`);
  return id;
}
