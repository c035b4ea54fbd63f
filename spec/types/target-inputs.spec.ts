/**
 * The typed targets' builder inputs are declared interfaces (`ThinPoolInput`, named in hovers,
 * errors and the shipped `.d.ts`), while the zod schemas stay the runtime check. This file fails
 * to compile (`npx tsc --noEmit`) when an interface and the type zod infers from its unit's
 * shape stop agreeing, in either direction: a field added, dropped, renamed, made optional or
 * retyped on one side only.
 */
import { describe, expect, test } from '@jest/globals';
import type { z } from 'zod';
import {
  TARGET_UNITS, buildTarget,
  type CacheInput, type CryptInput, type DelayInput, type EraInput, type FlakeyInput, type IntegrityInput, type LinearInput, type MirrorInput,
  type MultipathInput, type NoInput, type RaidInput, type SnapshotInput, type SnapshotOriginInput, type StripedInput, type TargetType, type ThinInput,
  type ThinPoolInput, type ThinPoolTarget, type TypedTargetOf, type TypedTargets, type VerityInput, type WritecacheInput,
  type CloneInput, type EbsInput, type VdoInput,
} from '../../lib/index.js';
import { errorUnit, linearUnit, stripedUnit, zeroUnit } from '../../lib/targets/basic.js';
import { cryptUnit } from '../../lib/targets/crypt.js';
import { verityUnit } from '../../lib/targets/verity.js';
import { integrityUnit } from '../../lib/targets/integrity.js';
import { thinPoolUnit, thinUnit } from '../../lib/targets/thin.js';
import { cacheUnit, eraUnit, writecacheUnit } from '../../lib/targets/cache.js';
import { snapshotOriginUnit, snapshotUnit } from '../../lib/targets/snapshot.js';
import { delayUnit, flakeyUnit } from '../../lib/targets/faults.js';
import { mirrorUnit, raidUnit } from '../../lib/targets/raid.js';
import { multipathUnit } from '../../lib/targets/multipath.js';
import { cloneUnit } from '../../lib/targets/clone.js';
import { ebsUnit } from '../../lib/targets/ebs.js';
import { vdoUnit } from '../../lib/targets/vdo.js';

/** Each assignable to the other (readonly aside, which assignability ignores). */
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** What zod infers from a unit's schema (`z.infer`). */
type Inferred<U extends { readonly schema: z.ZodType }> = z.infer<U['schema']>;
function expectAgree<T extends true>(): T | void { return undefined; }
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

describe('typed target inputs: declared interfaces agree with their zod schemas', () => {
  test('every interface and z.infer of its schema agree both ways (a compile-time check)', () => {
    expectAgree<Agree<LinearInput, Inferred<typeof linearUnit>>>();
    expectAgree<Agree<StripedInput, Inferred<typeof stripedUnit>>>();
    // zero and error take no params: their schema is an empty strict object (zod infers an index
    // signature of never), and the declared input is the empty `NoInput`.
    expectAgree<Equal<Inferred<typeof zeroUnit>, Record<string, never>>>();
    expectAgree<Equal<Inferred<typeof errorUnit>, Record<string, never>>>();
    expectAgree<Equal<keyof NoInput, never>>();
    expectAgree<Agree<CryptInput, Inferred<typeof cryptUnit>>>();
    expectAgree<Agree<VerityInput, Inferred<typeof verityUnit>>>();
    expectAgree<Agree<IntegrityInput, Inferred<typeof integrityUnit>>>();
    expectAgree<Agree<ThinPoolInput, Inferred<typeof thinPoolUnit>>>();
    expectAgree<Agree<ThinInput, Inferred<typeof thinUnit>>>();
    expectAgree<Agree<CacheInput, Inferred<typeof cacheUnit>>>();
    expectAgree<Agree<WritecacheInput, Inferred<typeof writecacheUnit>>>();
    expectAgree<Agree<EraInput, Inferred<typeof eraUnit>>>();
    expectAgree<Agree<SnapshotOriginInput, Inferred<typeof snapshotOriginUnit>>>();
    expectAgree<Agree<SnapshotInput, Inferred<ReturnType<typeof snapshotUnit<'snapshot'>>>>>();
    expectAgree<Agree<SnapshotInput, Inferred<ReturnType<typeof snapshotUnit<'snapshot-merge'>>>>>();
    expectAgree<Agree<FlakeyInput, Inferred<typeof flakeyUnit>>>();
    expectAgree<Agree<DelayInput, Inferred<typeof delayUnit>>>();
    expectAgree<Agree<MirrorInput, Inferred<typeof mirrorUnit>>>();
    expectAgree<Agree<RaidInput, Inferred<typeof raidUnit>>>();
    expectAgree<Agree<MultipathInput, Inferred<typeof multipathUnit>>>();
    expectAgree<Agree<CloneInput, Inferred<typeof cloneUnit>>>();
    expectAgree<Agree<EbsInput, Inferred<typeof ebsUnit>>>();
    expectAgree<Agree<VdoInput, Inferred<typeof vdoUnit>>>();
    // The check can fail: a field the schema does not have, or one it has made optional.
    expectAgree<Equal<Agree<ThinPoolInput & { extraSectors: number }, Inferred<typeof thinPoolUnit>>, false>>();
    expectAgree<Equal<Agree<Partial<ThinPoolInput>, Inferred<typeof thinPoolUnit>>, false>>();
    expect(Object.keys(TARGET_UNITS)).toHaveLength(23);
  });

  test('TypedTargets names every typed unit, and TypedTargetOf<K> is the named interface', () => {
    expectAgree<Equal<keyof TypedTargets, TargetType>>();
    expectAgree<Equal<TypedTargetOf<'thin-pool'>, ThinPoolTarget>>();
    const line: TypedTargetOf<'thin-pool'> = {
      start: 0, length: 8, type: 'thin-pool', metadataDevice: '7:0', dataDevice: { major: 7, minor: 1 }, blockSizeSectors: 128, lowWaterMarkBlocks: 10n,
    };
    expect(buildTarget(line).params).toBe('7:0 7:1 128 10 0');
  });
});
