// formatVerity, verifyVerity and readVeritySuperblock on the simulator's files: hostile
// superblocks are typed errors (never a hang or an allocation the size a field claims),
// corrupted images name their first bad block, and the calls take signal, timeoutMs and
// onProgress like every long call of the package.
import { describe, expect, test } from '@jest/globals';
import {
  decodeVeritySuperblock, DeviceMapper, DmAbortError, DmArgumentError, DmSyscallError, DmVerityError, encodeVeritySuperblock, formatVerity, readVeritySuperblock,
  verifyVerity, VERITY_SUPERBLOCK_SIZE_BYTES,
} from '../../lib/index.js';
import { SimulatedKernel, simBlockIo } from '../../testing/index.js';

async function withSim<T>(f: (dm: DeviceMapper, put: (p: string, bytes: Uint8Array, at?: number) => Promise<void>, get: (p: string) => Promise<Uint8Array>) => Promise<T>): Promise<T> {
  const kernel = new SimulatedKernel();
  const io = simBlockIo(kernel);
  const dm = await DeviceMapper.open({ backend: kernel.backend() });
  const put = async (p: string, bytes: Uint8Array, at = 0) => { const h = await io.openFile(p, 'create'); await h.write(at, bytes); await h.close(); };
  const get = async (p: string) => {
    const h = await io.openFile(p, 'read');
    const b = new Uint8Array(Number(await h.sizeBytes()));
    await h.read(0, b);
    await h.close();
    return b;
  };
  try { return await f(dm, put, get); } finally { dm.close(); }
}

function pseudoRandom(bytes: number, seed = 9): Uint8Array {
  const b = new Uint8Array(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

const UUID = '0b7a1d52-3c4e-4f60-8a9b-0c1d2e3f4a5b';
const SALT = '00112233445566778899aabbccddeeff';

/** A valid superblock, then `patch` applied to its bytes. */
function superblock(patch: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const b = encodeVeritySuperblock({
    hashType: 1, uuid: new Uint8Array(16).fill(1), hashAlgorithm: 'sha256', dataBlockSizeBytes: 4096, hashBlockSizeBytes: 4096, dataBlocks: 16n, salt: new Uint8Array([1, 2]),
  });
  patch(b, new DataView(b.buffer));
  return b;
}

describe('superblock: veritysetup\'s checks, typed', () => {
  test('the layout: 512 bytes, little-endian fields at struct verity_sb\'s offsets, the name lower-cased', () => {
    const b = encodeVeritySuperblock({ hashType: 0, uuid: new Uint8Array(16).fill(0xab), hashAlgorithm: 'SHA512', dataBlockSizeBytes: 1024, hashBlockSizeBytes: 2048, dataBlocks: 0x0102030405n, salt: new Uint8Array([9, 8, 7]) });
    expect(b.length).toBe(VERITY_SUPERBLOCK_SIZE_BYTES);
    expect(Buffer.from(b.subarray(0, 8)).toString('latin1')).toBe('verity\0\0');
    const v = new DataView(b.buffer);
    expect([v.getUint32(8, true), v.getUint32(12, true), v.getUint32(64, true), v.getUint32(68, true), v.getBigUint64(72, true), v.getUint16(80, true)]).toEqual([1, 0, 1024, 2048, 0x0102030405n, 3]);
    expect(Buffer.from(b.subarray(32, 38)).toString('latin1')).toBe('sha512');
    expect([...b.subarray(88, 91)]).toEqual([9, 8, 7]);
    expect(decodeVeritySuperblock(b)).toMatchObject({ hashType: 0, hashAlgorithm: 'sha512', dataBlocks: 0x0102030405n, uuid: 'abababab-abab-abab-abab-abababababab' });
  });

  const hostile: [string, (b: Uint8Array, v: DataView) => void, string][] = [
    ['no signature', (b) => { b[0] = 0; }, 'No VERITY signature detected.'],
    ['version 2', (_b, v) => v.setUint32(8, 2, true), 'Unsupported VERITY version 2.'],
    ['version 2^32 - 1', (_b, v) => v.setUint32(8, 0xffffffff, true), 'Unsupported VERITY version -1.'],
    ['hash type 7', (_b, v) => v.setUint32(12, 7, true), 'Unsupported VERITY hash type 7.'],
    ['data block size 0', (_b, v) => v.setUint32(64, 0, true), 'Unsupported VERITY block size.'],
    ['hash block size 2^31', (_b, v) => v.setUint32(68, 0x80000000, true), 'Unsupported VERITY block size.'],
    ['data block size 3000', (_b, v) => v.setUint32(64, 3000, true), 'Unsupported VERITY block size.'],
    ['an algorithm of 32 bytes without a NUL', (b) => b.fill(0x61, 32, 64), `Hash algorithm ${'a'.repeat(32)} not supported.`],
    ['an unknown algorithm', (b) => { b.fill(0, 32, 64); b.set([0x78, 0x78], 32); }, 'Hash algorithm xx not supported.'],
    ['a salt size of 65535', (_b, v) => v.setUint16(80, 0xffff, true), 'VERITY header corrupted.'],
  ];
  test.each(hostile)('%s: DmVerityError VERITY_SUPERBLOCK with veritysetup\'s message', async (_n, patch, message) => {
    await withSim(async (dm, put) => {
      await put('/h.img', superblock(patch));
      const e = await readVeritySuperblock('/h.img', { dm }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmVerityError);
      expect(e).toMatchObject({ code: 'VERITY_SUPERBLOCK', message });
      const v = await verifyVerity('/d.img', '/h.img', '00'.repeat(32), { dm }).catch((x: unknown) => x);
      expect(v).toMatchObject({ code: 'VERITY_SUPERBLOCK', message });
    });
  });

  test('a hash image shorter than a superblock: no signature; one that is not there: ENOENT (never the host\'s file)', async () => {
    await withSim(async (dm, put) => {
      await put('/short.img', new Uint8Array(100));
      await expect(readVeritySuperblock('/short.img', { dm })).rejects.toMatchObject({ code: 'VERITY_SUPERBLOCK' });
      const e = await readVeritySuperblock('/etc/passwd', { dm }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DmSyscallError);
      expect(e).toMatchObject({ code: 'ENOENT' });
    });
  });

  test('2^64 - 1 data blocks: "Hash area overflow." at once; 2^50: a short data device (EIO) at the first chunk, no huge buffer', async () => {
    await withSim(async (dm, put) => {
      await put('/h.img', superblock((_b, v) => v.setBigUint64(72, 0xffffffffffffffffn, true)));
      await put('/d.img', new Uint8Array(8192));
      await expect(verifyVerity('/d.img', '/h.img', '00'.repeat(32), { dm })).rejects.toMatchObject({ code: 'VERITY_PARAMETERS', message: 'Hash area overflow.' });
      await put('/h2.img', superblock((_b, v) => v.setBigUint64(72, 1n << 50n, true)));
      const before = process.memoryUsage().arrayBuffers;
      await expect(verifyVerity('/d.img', '/h2.img', '00'.repeat(32), { dm, threads: 1 })).rejects.toMatchObject({ code: 'EIO' });
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
      expect(await readVeritySuperblock('/h2.img', { dm })).toMatchObject({ dataBlocks: 1n << 50n, hashDeviceSizeBytes: expect.any(BigInt) });
    });
  });
});

describe('format and verify on the simulator', () => {
  test('format writes the tree and the superblock into the simulator\'s file; verify and dump read them back', async () => {
    await withSim(async (dm, put, get) => {
      await put('/d.img', pseudoRandom(1 << 20));
      const progress: number[] = [];
      const r = await formatVerity('/d.img', '/h.img', { dm, uuid: UUID, salt: SALT, onProgress: (p) => progress.push(p.done) });
      expect(r).toMatchObject({ uuid: UUID, dataBlocks: 256n, hashBlocks: 3n, hashDeviceSizeBytes: 16384n, superblock: true });
      expect(progress.at(-1)).toBe(256);
      expect((await get('/h.img')).length).toBe(16384);
      await expect(verifyVerity('/d.img', '/h.img', r.rootHashHex, { dm })).resolves.toMatchObject({ rootHashHex: r.rootHashHex, dataBlocks: 256n });
      await expect(readVeritySuperblock('/h.img', { dm })).resolves.toMatchObject({ uuid: UUID, hashBlocks: 3n });
    });
  });

  test('a corrupted data block, a corrupted digest, a dirty spare area, another root: each named as veritysetup names it', async () => {
    await withSim(async (dm, put, get) => {
      const data = pseudoRandom(1 << 20);
      await put('/d.img', data);
      const { rootHashHex: root } = await formatVerity('/d.img', '/h.img', { dm, uuid: UUID, salt: SALT });
      const hash = await get('/h.img');
      const flip = (b: Uint8Array, at: number) => { const c = b.slice(); c[at] = c[at]! ^ 1; return c; };
      await put('/bad-d.img', flip(data, 20000));
      await expect(verifyVerity('/bad-d.img', '/h.img', root, { dm })).rejects.toMatchObject({ code: 'VERITY_CORRUPT', device: 'data', positionBytes: 16384n, message: 'Verification failed at position 16384.' });
      await put('/bad-h.img', flip(hash, 4096));
      await expect(verifyVerity('/d.img', '/bad-h.img', root, { dm })).rejects.toMatchObject({ code: 'VERITY_CORRUPT', device: 'hash', positionBytes: 8192n });
      await put('/spare.img', flip(hash, 4196));
      await expect(verifyVerity('/d.img', '/spare.img', root, { dm })).rejects.toMatchObject({ code: 'VERITY_CORRUPT', device: 'hash', positionBytes: 4160n, message: 'Spare area is not zeroed at position 4160.' });
      await expect(verifyVerity('/d.img', '/h.img', root.replace(/^./, (c) => (c === '0' ? '1' : '0')), { dm })).rejects.toMatchObject({ code: 'VERITY_ROOT_HASH' });
      await expect(verifyVerity('/d.img', '/h.img', root.slice(2), { dm })).rejects.toMatchObject({ code: 'VERITY_PARAMETERS', message: 'Invalid root hash string specified.' });
    });
  });

  test('bad arguments are typed errors before anything is opened', async () => {
    await withSim(async (dm) => {
      await expect(formatVerity(7 as unknown as string, '/h')).rejects.toBeInstanceOf(DmArgumentError);
      await expect(formatVerity('/d', '/h', { dm, bogus: 1 } as never)).rejects.toBeInstanceOf(DmArgumentError);
      await expect(formatVerity('/d', '/h', { dm, dataBlockSizeBytes: 1000 })).rejects.toMatchObject({ code: 'VERITY_PARAMETERS', message: 'Unsupported VERITY block size.' });
      await expect(formatVerity('/d', '/h', { dm, uuid: 'x' })).rejects.toMatchObject({ code: 'VERITY_PARAMETERS' });
      await expect(verifyVerity('/d', '/h', 5 as unknown as string, { dm })).rejects.toBeInstanceOf(DmArgumentError);
      await expect(verifyVerity('/d', '/h', '00', { dm, superblock: false })).rejects.toMatchObject({ argument: 'options.salt' });
    });
  });

  test('an aborted signal stops before any file is opened; a timeout stops a long format', async () => {
    const kernel = new SimulatedKernel();
    const io = simBlockIo(kernel);
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    const h = await io.openFile('/d.img', 'create');
    await h.write(0, pseudoRandom(8 << 20));
    await h.close();
    const ac = new AbortController();
    ac.abort();
    const opened = io.calls.length;
    await expect(formatVerity('/d.img', '/h.img', { dm, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    await expect(readVeritySuperblock('/d.img', { dm, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    await expect(verifyVerity('/d.img', '/h.img', '00', { dm, signal: ac.signal })).rejects.toBeInstanceOf(DmAbortError);
    expect(io.calls.slice(opened)).toEqual([]);
    const slow = new AbortController();
    const p = formatVerity('/d.img', '/h.img', { dm, signal: slow.signal, threads: 1, onProgress: () => slow.abort() });
    await expect(p).rejects.toBeInstanceOf(DmAbortError);
    dm.close();
  });
});
