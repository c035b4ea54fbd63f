// info()/infoSync()/infoMany() build their result as one literal (lib/client/client.ts, present()),
// for speed; it must stay exactly `Object.assign({ exists: true }, device)`: the same own
// keys in the same order, the same values, plain data (spread and Object.assign of it work).
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { DeviceMapper } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

const ODD = Uint8Array.from([0x6f, 0x64, 0x64, 0xff, 0xfe, 0x4e]); // not UTF-8
const ODD_UUID = Uint8Array.from([0x75, 0x2d, 0xc3, 0x28]);

describe('the info result is { exists: true } followed by the device info, as Object.assign made it', () => {
  let k: SimulatedKernel;
  let dm: DeviceMapper;
  beforeEach(async () => { k = new SimulatedKernel(); dm = await DeviceMapper.open({ backend: k.backend() }); });
  afterEach(() => dm.close());

  const cases: [string, Parameters<DeviceMapper['create']>[0]][] = [
    ['a plain name, no uuid', { name: 'plain' }],
    ['a name and a uuid', { name: 'withuuid', uuid: 'LVM-abc' }],
    ['a raw name (nameBytes)', { name: ODD }],
    ['a raw uuid (uuidBytes)', { name: 'rawuuid', uuid: ODD_UUID }],
    ['both raw', { name: Uint8Array.from([0x80, 0x81]), uuid: Uint8Array.from([0xc3]) }],
  ];

  test.each(cases)('%s', async (_what, create) => {
    const made = await dm.create(create);
    const id = made.nameBytes ? { name: made.nameBytes } : { name: made.name };
    for (const got of [dm.infoSync(id), await dm.info(id), ...(await dm.infoMany([id])).map((s) => { if (!s.ok) throw s.error; return s.value; })]) {
      // The reference: the device info of the same device, through a path that does not use present().
      const device = (await dm.status(id)).device;
      const expected = Object.assign({ exists: true }, device);
      expect(Object.keys(got)).toEqual(Object.keys(expected));
      expect(got).toStrictEqual(expected);
      expect({ ...got }).toStrictEqual(expected);
      for (const key of Object.keys(got)) expect(Object.getOwnPropertyDescriptor(got, key)).toMatchObject({ enumerable: true, writable: true });
    }
  });
});
