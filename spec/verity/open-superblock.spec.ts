// openVerity without params: the hash device's superblock gives them (veritysetup open's default
// path), read through the client's backend. On the simulator: an image formatted with
// formatVerity on the simulator's files and loop devices opens to the same table as the
// explicit-params open, and the superblock's UUID names the device as veritysetup names it.
import { describe, expect, test } from '@jest/globals';
import { attachLoop, DeviceMapper, formatVerity, openVerity } from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';

async function image(offsetBytes = 0) {
  const kernel = new SimulatedKernel();
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  const io = simBlockIo(kernel);
  const f = await io.openFile('/img/data', 'create');
  await f.write(0, Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff));
  await f.close();
  const h = await io.openFile('/img/hash', 'create');
  // Room for the tree behind the offset: the loop device's size is the file's.
  await h.write(0, new Uint8Array(offsetBytes + (64 << 10)));
  await h.close();
  const data = await attachLoop('/img/data', { dm });
  const r = await formatVerity(data.path, '/img/hash', { dm, salt: '0123456789abcdef', hashOffsetBytes: offsetBytes });
  const hash = await attachLoop('/img/hash', { dm });
  return { kernel, dm, data: data.path, hash: hash.path, r };
}

describe('openVerity from the superblock', () => {
  test.each([0, 8192])('hash offset %i: the table is the explicit-params open\'s; the uuid is CRYPT-VERITY-<superblock uuid>-<name>', async (offsetBytes) => {
    const { kernel, dm, data, hash, r } = await image(offsetBytes);
    const rootHash = Uint8Array.from(Buffer.from(r.rootHashHex, 'hex'));
    let fromSuperblock: string;
    {
      await using v = await openVerity(dm, { name: 'sb', dataDevice: data, hashDevice: hash, rootHash, ...(offsetBytes ? { hashOffsetBytes: offsetBytes } : {}) });
      expect(v.uuid).toBe(`CRYPT-VERITY-${r.uuid!.replaceAll('-', '')}-sb`);
      fromSuperblock = (await dm.table('sb')).targets.map((t) => `${t.start} ${t.length} ${t.type} ${t.params}`).join('\n');
    }
    {
      await using v = await openVerity(dm, {
        name: 'sb', dataDevice: data, hashDevice: hash, rootHash, verityUuid: r.uuid!,
        params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashOffsetBytes: offsetBytes, salt: Uint8Array.from(Buffer.from('0123456789abcdef', 'hex')) },
      });
      expect(v.uuid).toBe(`CRYPT-VERITY-${r.uuid!.replaceAll('-', '')}-sb`);
      const explicit = (await dm.table('sb')).targets.map((t) => `${t.start} ${t.length} ${t.type} ${t.params}`).join('\n');
      expect(fromSuperblock).toBe(explicit);
    }
    // 256 data blocks of 4 KiB; the tree one block after the superblock's block.
    expect(fromSuperblock).toMatch(new RegExp(`^0 2048 verity 1 7:0 7:1 4096 4096 256 ${offsetBytes / 4096 + 1} sha256 ${r.rootHashHex} 0123456789abcdef$`));
    expect(kernel.devices.has('sb')).toBe(false);
    dm.close();
  });

  test('a hash device without a superblock: veritysetup\'s refusal (VERITY_SUPERBLOCK), nothing created', async () => {
    const { kernel, dm, data } = await image();
    await expect(openVerity(dm, { name: 'bad', dataDevice: data, hashDevice: data, rootHash: new Uint8Array(32) }))
      .rejects.toMatchObject({ code: 'VERITY_SUPERBLOCK', message: 'No VERITY signature detected.' });
    expect(kernel.devices.has('bad')).toBe(false);
    dm.close();
  });

  test('bad input before any ioctl: hashOffsetBytes not a multiple of 512, or next to params', async () => {
    const { kernel, dm, data, hash } = await image();
    const before = [...kernel.calls.values()].reduce((a, b) => a + b, 0);
    await expect(openVerity(dm, { name: 'x', dataDevice: data, hashDevice: hash, rootHash: new Uint8Array(32), hashOffsetBytes: 100 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(openVerity(dm, {
      name: 'x', dataDevice: data, hashDevice: hash, rootHash: new Uint8Array(32), hashOffsetBytes: 0,
      params: { version: 1, hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 256, hashOffsetBytes: 0, salt: new Uint8Array(0) },
    })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect([...kernel.calls.values()].reduce((a, b) => a + b, 0)).toBe(before);
    dm.close();
  });
});
