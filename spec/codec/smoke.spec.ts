import { describe, expect, test } from '@jest/globals';
import { createCodec, dmIoctl, dmTargetSpec, dmNameList, dmTargetVersions, dmTargetDeps, dmTargetMsg, requestCode } from '../../codec/index.js';

describe('record layouts', () => {
  test('dm_ioctl is 312 bytes with the kernel offsets', () => {
    expect(dmIoctl.size).toBe(312);
    expect(dmIoctl.align).toBe(8);
    expect(Object.values(dmIoctl.offsetOf)).toEqual([0, 12, 16, 20, 24, 28, 32, 36, 40, 48, 176, 305]);
  });
  test('payload records', () => {
    expect([dmTargetSpec.size, dmNameList.size, dmTargetVersions.size, dmTargetDeps.size, dmTargetMsg.size]).toEqual([40, 16, 16, 8, 8]);
    expect(dmNameList.offsetOf.name).toBe(12);
    expect(dmTargetVersions.offsetOf.name).toBe(16);
    expect(dmTargetDeps.offsetOf.dev).toBe(8);
  });
  test('request codes', () => {
    expect(requestCode('version')).toBe(0xc138fd00);
    expect(requestCode('getTargetVersion')).toBe(0xc138fd11);
  });
});

describe('round trip', () => {
  const c = createCodec({ endian: 'little' });
  test('load request', () => {
    const req = c.encodeRequest('load', { id: { name: 'x' }, targets: [{ start: 0, length: 8, type: 'linear', params: '7:0 0' }, { start: 8, length: 8n, type: 'zero', params: 'a\\b' }] });
    const h = c.decodeHeader(req);
    expect(h.target_count).toBe(2);
    expect(h.data_size).toBe(req.length);
    expect(h.name).toBe('x');
    const view = new DataView(req.buffer);
    expect(view.getUint32(312 + 20, true)).toBe(48);
    expect(new TextDecoder().decode(req.subarray(352, 357))).toBe('7:0 0');
    expect(new TextDecoder().decode(req.subarray(360 + 40, 360 + 44))).toBe('a\\\\b');
  });
});
