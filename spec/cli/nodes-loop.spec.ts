// /dev/mapper node policy (lib/udev/device-nodes.ts) with and without udev, and the pure parts of the
// loop/block ffi (struct loop_info64, makedev, rdev splitting). Live: spec/live/interop.live.spec.ts.
import { describe, expect, test } from '@jest/globals';
import { addNode, removeNode, renameNode, udevActive, waitForNode, nodePath, splitRdev, DmAbortError } from '../../lib/index.js';
import { makedev, LO_FLAGS_READ_ONLY } from '../../ffi/index.js';
import { decodeLoopInfo, encodeLoopInfo, loopConfigBytes, LOOP_INFO64_SIZE } from '../../lib/kernel/syscall-structs.js';
import { loopConfig, loopInfo64, pollfd } from '../../codec/syscall-records.js';
import { HOST_ENDIANNESS } from '../../codec/endian.js';
import { memoryNodes } from './harness.js';

const dev = { major: 254, minor: 3 };

describe('nodes without udev (DM_DISABLE_UDEV=1): made directly, like libdevmapper', () => {
  test('add → exists → rename → remove', async () => {
    const ops = memoryNodes();
    const o = { ops, udev: false as const };
    expect(await addNode('a', dev, o)).toEqual({ path: '/dev/mapper/a', action: 'created' });
    expect(await addNode('a', dev, o)).toEqual({ path: '/dev/mapper/a', action: 'exists' });
    ops.nodes.set('/dev/mapper/a', { major: 254, minor: 9 }); // wrong device: replaced
    expect((await addNode('a', dev, o)).action).toBe('created');
    expect(ops.nodes.get('/dev/mapper/a')).toEqual(dev);
    expect(await renameNode('a', 'b', dev, o)).toEqual({ path: '/dev/mapper/b', action: 'renamed' });
    expect([...ops.nodes.keys()]).toEqual(['/dev/mapper/b']);
    expect((await renameNode('gone', 'c', dev, o)).action).toBe('created'); // no old node: made fresh
    expect(await removeNode('b', o)).toEqual({ path: '/dev/mapper/b', action: 'removed' });
    expect(await removeNode('b', o)).toEqual({ path: '/dev/mapper/b', action: 'absent' });
  });

  test('a non-block file in the way is an error, as in libdevmapper', async () => {
    const ops = memoryNodes();
    ops.nodes.set('/dev/mapper/x', 'other');
    await expect(addNode('x', dev, { ops, udev: false })).rejects.toThrow(/non-block device file/);
  });

  test('node names: the kernel name, never a path', () => {
    expect(nodePath('a\\x20b')).toBe('/dev/mapper/a\\x20b');
    expect(() => nodePath('../x')).toThrow();
    expect(() => nodePath('..')).toThrow();
  });
});

describe('nodes with udev running: no cookie, wait for udev when the kernel sent a uevent', () => {
  test('udevActive: DM_DISABLE_UDEV wins; otherwise /run/udev/control decides', () => {
    const ops = memoryNodes();
    expect(udevActive({}, ops)).toBe(false);
    ops.nodes.set('/run/udev/control', 'other');
    expect(udevActive({}, ops)).toBe(true);
    expect(udevActive({ DM_DISABLE_UDEV: '1' }, ops)).toBe(false);
  });

  test('DM_UEVENT_GENERATED_FLAG set: udev makes the node, we only wait', async () => {
    const ops = memoryNodes();
    setTimeout(() => ops.nodes.set('/dev/mapper/u', dev), 30);
    expect(await addNode('u', dev, { ops, udev: true, ueventGenerated: true, timeoutMs: 2000 })).toEqual({ path: '/dev/mapper/u', action: 'udev' });
    setTimeout(() => ops.nodes.delete('/dev/mapper/u'), 30);
    expect((await removeNode('u', { ops, udev: true, ueventGenerated: true, timeoutMs: 2000 })).action).toBe('udev');
  });

  test('udev silent past the timeout: fall back to doing it directly', async () => {
    const ops = memoryNodes();
    expect((await addNode('s', dev, { ops, udev: true, ueventGenerated: true, timeoutMs: 30 })).action).toBe('fallback');
    expect(ops.nodes.get('/dev/mapper/s')).toEqual(dev);
    expect((await renameNode('s', 't', dev, { ops, udev: true, ueventGenerated: true, timeoutMs: 30 })).action).toBe('fallback');
    expect([...ops.nodes.keys()]).toEqual(['/dev/mapper/t']);
  });

  test('no uevent generated (flag clear): done directly at once, no wait', async () => {
    const ops = memoryNodes();
    const t0 = Date.now();
    expect((await addNode('n', dev, { ops, udev: true, ueventGenerated: false, timeoutMs: 5000 })).action).toBe('created');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test('waitForNode: AbortSignal ends the wait with DmAbortError; false on timeout', async () => {
    const ops = memoryNodes();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(waitForNode('w', dev, { ops, signal: ac.signal, timeoutMs: 10_000 })).rejects.toBeInstanceOf(DmAbortError);
    expect(await waitForNode('w', dev, { ops, timeoutMs: 20 })).toBe(false);
    expect(await waitForNode('w', undefined, { ops, timeoutMs: 20 })).toBe(true);
  });
});

describe('loop and block ffi, pure parts', () => {
  test('struct loop_info64 round-trips the fields we set', () => {
    const buf = new Uint8Array(LOOP_INFO64_SIZE);
    encodeLoopInfo(buf, 0, { offset: 4096n, sizeLimit: 1n << 33n, flags: LO_FLAGS_READ_ONLY, fileName: '/tmp/' + 'x'.repeat(100) });
    const d = decodeLoopInfo(buf);
    expect(d).toMatchObject({ offset: 4096n, sizeLimit: 1n << 33n, flags: 1 });
    expect(d.fileName).toHaveLength(63); // LO_NAME_SIZE - 1
  });

  test('the layouts of loop_info64, loop_config and pollfd are <linux/loop.h> and <poll.h>', () => {
    // offsetof()/sizeof() as gcc gives them on every 64-bit and 32-bit Linux ABI (all members are fixed-width).
    expect([loopInfo64.size, loopInfo64.offsetOf.lo_offset, loopInfo64.offsetOf.lo_number, loopInfo64.offsetOf.lo_flags,
      loopInfo64.offsetOf.lo_file_name, loopInfo64.offsetOf.lo_crypt_name, loopInfo64.offsetOf.lo_encrypt_key, loopInfo64.offsetOf.lo_init])
      .toEqual([232, 24, 40, 52, 56, 120, 184, 216]);
    expect([loopConfig.size, loopConfig.offsetOf.block_size, loopConfig.offsetOf.info, loopConfig.offsetOf.__reserved]).toEqual([304, 4, 8, 240]);
    expect([pollfd.size, pollfd.offsetOf.events, pollfd.offsetOf.revents]).toEqual([8, 4, 6]);
  });

  test('struct loop_config carries the fd, the block size and the info at offset 8', () => {
    const cfg = loopConfigBytes(7, 4096, { offset: 512n, flags: LO_FLAGS_READ_ONLY, fileName: 'f' });
    const v = new DataView(cfg.buffer);
    const le = HOST_ENDIANNESS === 'little';
    expect([cfg.length, v.getUint32(0, le), v.getUint32(4, le)]).toEqual([304, 7, 4096]);
    expect(decodeLoopInfo(cfg, 8)).toMatchObject({ offset: 512n, flags: 1, fileName: 'f' });
  });

  test('makedev and splitRdev agree with glibc', () => {
    expect(makedev(7, 0)).toBe(0x700n);
    expect(makedev(254, 300)).toBe(BigInt((254 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12)));
    expect(splitRdev(makedev(259, 1048575))).toEqual({ major: 259, minor: 1048575 });
    expect(splitRdev(makedev(4095, 12))).toEqual({ major: 4095, minor: 12 });
  });
});
