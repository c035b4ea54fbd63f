// listSync() hands the decoder's array to the caller without copying it (bench/scale-path:
// LIST of 10,000 devices): that is only right while every call decodes a new array. A caller
// that sorts, empties or edits one result must not change another call's result.
import { describe, expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

describe('list results belong to their caller', () => {
  for (const version of [[4, 48, 0], [4, 43, 0]] as const) {
    test(`each listSync()/list() returns its own array and records (dm ${version.join('.')})`, async () => {
      const kernel = new SimulatedKernel({ version: [...version] });
      const dm = await DeviceMapper.open({ backend: kernel.backend() });
      try {
        for (const name of ['c', 'a', 'b']) await dm.create({ name });
        const first = dm.listSync();
        const expected = structuredClone(first);
        first.reverse();
        (first[0] as { name: string }).name = 'changed';
        first.pop();
        expect(dm.listSync()).toEqual(expected);
        const viaList = await dm.list();
        viaList.length = 0;
        expect(await dm.list()).toEqual(expected);
        expect(dm.listSync({ namePrefix: 'a' })).toEqual([expected[0]]);
      } finally {
        dm.close();
      }
    });
  }
});
