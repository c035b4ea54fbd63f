// Adversarial review of the codec's fast paths (codec/commands.ts encodeRequest with
// into/intoView: the header template per version).
import { describe, expect, jest, test } from '@jest/globals';
import { codec, createCodec, DM_IOCTL_SIZE, viewOf, type Version } from '../../codec/index.js';

describe('encodeRequest with intoView: the header template of a caller-given version', () => {
  // Finding (fixed): the header templates were cached by the identity of the version array
  // (`templates.get(v)`, meant for the command table's constant minVersion arrays). A caller
  // passing `options.version` got (1) the template of whatever its array held the first time,
  // even after changing the array — a request with a stale version — and (2) a new template,
  // with a `new Function` compiled, for every fresh array, kept for the codec's lifetime.
  test('a version array changed between calls: the request carries its current value, as without intoView', () => {
    const into = new Uint8Array(DM_IOCTL_SIZE);
    const view = viewOf(into);
    const v: [number, number, number] = [4, 0, 0];
    codec.encodeRequest('version', {}, { version: v, into, intoView: view });
    v[1] = 7;
    const fast = codec.encodeRequest('version', {}, { version: v, into, intoView: view });
    expect(codec.readVersion(fast)).toEqual([4, 7, 0]);
    expect([...fast]).toEqual([...codec.encodeRequest('version', {}, { version: v })]);
  });

  test('fresh arrays of one version share one template', () => {
    const c = createCodec();
    const spy = jest.spyOn(c.header, 'template');
    const into = new Uint8Array(DM_IOCTL_SIZE);
    const view = viewOf(into);
    for (let i = 0; i < 50; i++) c.encodeRequest('info', { id: { name: `d${i}` } }, { version: [4, 1, 0] as Version, into, intoView: view });
    expect(spy.mock.calls.length).toBeLessThanOrEqual(1);
    spy.mockRestore();
  });
});
