// The simulator against the real kernels: every recorded ioctl (fixtures/recorded: 5.10's dm
// 4.43, 6.1's 4.47, 6.12's 4.48 and 7.3's 4.50) replayed through a fresh SimulatedKernel must give the same result and the same
// reply bytes. Where they differ, the kernel wins and the simulator is fixed.
import { describe, expect, test } from '@jest/globals';
import * as path from 'node:path';
import { recordedVersions, replayRecording } from '../../fixtures/record/replay.js';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'recorded');

describe('simulator replays the recorded kernel sessions byte for byte', () => {
  const versions = recordedVersions(ROOT);
  test('recordings exist for every kernel of the matrix (5.10, 6.1, 6.12, newest)', () => {
    expect(versions).toEqual(expect.arrayContaining(['4.43.0', '4.47.0', '4.48.0', '4.50.0']));
  });
  for (const ver of versions) {
    test(`dm ${ver}`, async () => {
      const { steps, diffs } = await replayRecording(path.join(ROOT, ver));
      expect(steps).toBeGreaterThan(90);
      expect(diffs).toEqual([]);
    });
  }
});
