// Adversarial review of lib/udev/ (device nodes). Each `it.failing` is a defect found in
// review and left to the engineers changing lib/udev/: it flips (and fails as a reminder)
// once fixed; make it a plain `it` then.
import { describe, expect, it } from '@jest/globals';
import { DeviceMapper, removeNode, syncNodes, type NodeOps } from '../../lib/index.js';
import { SimulatedKernel } from '../../testing/index.js';

/** A /dev/mapper holding only the control node (a character device: 'other' to stat). */
function mapperDir(): { ops: NodeOps; unlinked: string[] } {
  const unlinked: string[] = [];
  const present = new Set(['/dev/mapper/control']);
  const ops: NodeOps = {
    stat: (p) => (present.has(p) ? 'other' : undefined),
    exists: (p) => present.has(p),
    mknod: async () => { throw new Error('no mknod in this test'); },
    unlink: (p) => { unlinked.push(p); present.delete(p); },
    rename: () => { throw new Error('no rename in this test'); },
    chown: () => {},
    readdir: () => [...present].map((p) => p.slice('/dev/mapper/'.length)),
  };
  return { ops, unlinked };
}

describe('the control node is never a device node', () => {
  // Finding: nodePath() refuses "", ".", ".." and "/" but not "control", and rmNode()
  // unlinks whatever is at the path without checking it is a block device. So
  // `syncNodes(dm, { name: 'control' })` — what `dmctl mknodes control` runs — finds no
  // device named control and removes /dev/mapper/control, the node every device-mapper
  // tool opens (the same for removeNode('control'), e.g. after removing a device of that
  // name made by an older kernel, which allowed the name). syncNodes' own doc says control
  // is never touched, and codec/validate.ts refuses "control" as a device name. Proposed
  // fix (lib/udev/device-nodes.ts): nodePath() refuses "control" like "." and ".."
  // (DmArgumentError INVALID_NAME), and rmNode() unlinks only a block device or a symlink
  // to one (stat() not 'other'), as mkNode() already refuses to replace a non-block file.
  it("syncNodes({ name: 'control' }) leaves /dev/mapper/control alone", async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const { ops, unlinked } = mapperDir();
      await syncNodes(dm, { name: 'control', ops, udev: false }).catch(() => undefined);
      // Before the fix: ['/dev/mapper/control'].
      expect(unlinked).toEqual([]);
    } finally {
      dm.close();
    }
  });

  it("removeNode('control') does not unlink the control node", async () => {
    const { ops, unlinked } = mapperDir();
    await removeNode('control', { ops, udev: false }).catch(() => undefined);
    expect(unlinked).toEqual([]);
  });
});

describe('the same mistake elsewhere: a node name that is no device node', () => {
  it("syncNodes({ name: 'control' }) is refused with INVALID_NAME before the kernel is asked", async () => {
    const kernel = new SimulatedKernel();
    const dm = await DeviceMapper.open({ backend: kernel.backend() });
    try {
      const { ops } = mapperDir();
      let listed = false;
      const off = kernel.intercept({ before: (e) => { if (e.command === 'listDevices') listed = true; } });
      await expect(syncNodes(dm, { name: 'control', ops, udev: false })).rejects.toMatchObject({ code: 'INVALID_NAME' });
      off();
      expect(listed).toBe(false);
    } finally {
      dm.close();
    }
  });

  it('removeNode() of a name whose path holds a non-block file leaves it (EEXIST, as mkNode refuses to replace one)', async () => {
    const unlinked: string[] = [];
    const ops: NodeOps = {
      ...mapperDir().ops,
      stat: (p) => (p === '/dev/mapper/notes' ? 'other' : undefined),
      exists: (p) => p === '/dev/mapper/notes',
      unlink: (p) => { unlinked.push(p); },
    };
    await expect(removeNode('notes', { ops, udev: false })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(unlinked).toEqual([]);
  });

  it('removeNode() still drops a block node and a dangling symlink', async () => {
    const unlinked: string[] = [];
    const ops: NodeOps = {
      ...mapperDir().ops,
      stat: (p) => (p === '/dev/mapper/blk' ? { major: 253, minor: 0 } : undefined),
      exists: (p) => p === '/dev/mapper/blk' || p === '/dev/mapper/dangling',
      unlink: (p) => { unlinked.push(p); },
    };
    await expect(removeNode('blk', { ops, udev: false })).resolves.toMatchObject({ action: 'removed' });
    await expect(removeNode('dangling', { ops, udev: false })).resolves.toMatchObject({ action: 'removed' });
    expect(unlinked).toEqual(['/dev/mapper/blk', '/dev/mapper/dangling']);
  });
});
