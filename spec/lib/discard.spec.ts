// discardBlocks: bad ranges (in sectors) are refused before any syscall; the ioctl numbers are the
// kernel's (<linux/fs.h> _IO(0x12, 119), <linux/loop.h> 0x4C07).
import { describe, expect, test } from '@jest/globals';
import { discardBlocks, DmOperationError } from '../../lib/index.js';
import { BLKDISCARD, LOOP_SET_CAPACITY } from '../../ffi/index.js';

describe('discardBlocks', () => {
  test.each([
    [{ offsetSectors: -1 }, 'offsetSectors'],
    [{ offsetSectors: 0.5 }, 'offsetSectors'],
    [{ lengthSectors: '8' }, 'lengthSectors'],
    [{ lengthSectors: 1n << 60n }, 'lengthSectors'],
  ])('%j is INVALID_INPUT before the device is opened', async (o, field) => {
    // The path does not exist: a syscall would give DmSyscallError ENOENT instead.
    const e = await discardBlocks('/nonexistent/dmts-discard', o as never).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DmOperationError);
    expect((e as DmOperationError).code).toBe('INVALID_INPUT');
    expect((e as Error).message).toContain(field);
  });

  test('the old byte options (offset, length) are refused, not ignored', async () => {
    await expect(discardBlocks('/nonexistent/dmts-discard', { offset: 0 } as never)).rejects.toMatchObject({ name: 'DmArgumentError' });
  });

  test('ioctl numbers', () => {
    const IO = (type: number, nr: number) => (type << 8) | nr; // _IOC_NONE, size 0
    expect(BLKDISCARD).toBe(IO(0x12, 119));
    expect(LOOP_SET_CAPACITY).toBe(0x4c07);
  });
});
