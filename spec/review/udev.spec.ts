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
  it.failing("syncNodes({ name: 'control' }) leaves /dev/mapper/control alone", async () => {
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

  it.failing("removeNode('control') does not unlink the control node", async () => {
    const { ops, unlinked } = mapperDir();
    await removeNode('control', { ops, udev: false }).catch(() => undefined);
    expect(unlinked).toEqual([]);
  });
});
