// The ioctl engine copies back only as far as the kernel writes (lib/kernel/reply-bytes.ts,
// ffi/engine.ts `replyBytes`): the stale-bytes proof. A caller's buffer never holds a byte of
// another call, nor a byte the "kernel" wrote past the reply's data_size.
import * as fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { IoctlEngine } from '../../ffi/engine.js';
import { openControl } from '../../ffi/control.js';
import { DM_IOCTL_SIZE, dmIoctl } from '../../codec/index.js';
import { dmReplyBytes } from '../../lib/kernel/reply-bytes.js';

const onLinux = process.platform === 'linux' ? describe : describe.skip;

const DATA_SIZE = dmIoctl.offsetOf.data_size;
/** Where a test request tells the fake kernel what to do (past the header, in the request's payload). */
const WANT = DM_IOCTL_SIZE + 8;
const FAIL = WANT + 4;
const KERNEL_BYTE = 0xab; // what the fake kernel writes inside [header, data_size)
const CANARY = 0xee; // what it writes past data_size, and what stale shared memory holds
const REQUEST_BYTE = 0x5a; // the caller's own request bytes

/**
 * The fake kernel, run in the worker. It writes the version, sets data_size to the request's
 * WANT, fills [header, data_size) with KERNEL_BYTE, and then misbehaves as no kernel does:
 * it writes CANARY over every byte past data_size (and past the header when it fails). A
 * caller that sees a CANARY got bytes it must not see.
 */
const FAKE = `
  const u32 = (o) => new Uint32Array(buf.buffer, buf.byteOffset + o, 1);
  const want = u32(${WANT})[0];
  const fail = buf[${FAIL}] === 1;
  buf[0] = 4; buf[4] = 48;
  if (fail) { buf.fill(${CANARY}, ${DM_IOCTL_SIZE}); return [-1, 22]; }
  u32(${DATA_SIZE})[0] = want;
  const end = Math.min(buf.length, want);
  if (end > ${DM_IOCTL_SIZE}) buf.fill(${KERNEL_BYTE}, ${DM_IOCTL_SIZE}, end);
  buf.fill(${CANARY}, Math.max(end, ${DM_IOCTL_SIZE}));
  return [0, 0];
`;

function request(len: number, want: number, fail = false): Uint8Array {
  const b = new Uint8Array(len).fill(REQUEST_BYTE);
  new Uint32Array(b.buffer, DATA_SIZE, 1)[0] = len; // the request's data_size: its buffer
  if (len >= FAIL + 1) {
    new Uint32Array(b.buffer, WANT, 1)[0] = want;
    b[FAIL] = fail ? 1 : 0;
  }
  return b;
}

/** What the caller must see: the kernel's bytes up to max(header, data_size), its own request bytes after. */
function expectReply(buf: Uint8Array, sent: Uint8Array, want: number, fail: boolean): void {
  expect(buf.indexOf(CANARY)).toBe(-1);
  const end = fail ? DM_IOCTL_SIZE : Math.min(buf.length, Math.max(DM_IOCTL_SIZE, want));
  if (!fail) {
    expect(new Uint32Array(buf.buffer, DATA_SIZE, 1)[0]).toBe(want);
    if (end > DM_IOCTL_SIZE) expect(buf.subarray(DM_IOCTL_SIZE, end).every((x) => x === KERNEL_BYTE)).toBe(true);
  }
  expect(Buffer.from(buf.subarray(end)).equals(Buffer.from(sent.subarray(end)))).toBe(true);
}

describe('dmReplyBytes: how far a dm reply reaches', () => {
  const reply = (len: number, dataSize: number) => {
    const b = new Uint8Array(len);
    if (len >= DATA_SIZE + 4) new Uint32Array(b.buffer, DATA_SIZE, 1)[0] = dataSize;
    return b;
  };
  test('success: data_size, never less than the header, never more than the buffer', () => {
    expect(dmReplyBytes(reply(16384, 305), 0)).toBe(DM_IOCTL_SIZE);
    expect(dmReplyBytes(reply(16384, 0), 0)).toBe(DM_IOCTL_SIZE);
    expect(dmReplyBytes(reply(16384, 4000), 0)).toBe(4000);
    expect(dmReplyBytes(reply(16384, 0xffffffff), 0)).toBe(16384);
    expect(dmReplyBytes(reply(1000, 2000), 0)).toBe(1000);
  });
  test('failure: the header only (the kernel writes back the version alone)', () => {
    expect(dmReplyBytes(reply(16384, 16384), -1)).toBe(DM_IOCTL_SIZE);
    expect(dmReplyBytes(reply(100, 100), -1)).toBe(100);
  });
});

onLinux('the engine copies back only max(header, data_size) of a reply', () => {
  test('calls of different sizes over stale shared memory: no canary, no byte of another call, the tail is the caller\'s own', async () => {
    const e = IoctlEngine.start({ fd: fs.openSync('/dev/null', 'r'), libc: '', slots: 4, slotSize: 16384, fakeIoctl: FAKE, replyBytes: dmReplyBytes });
    try {
      e.sharedBytes.fill(CANARY); // what earlier calls could have left, were slots not wiped
      const lens = [DM_IOCTL_SIZE + 16, 400, 1024, 4096, 16384];
      const wants = [0, 305, DM_IOCTL_SIZE, 500, 3000, 16384, 20000];
      const cases: { len: number; want: number; fail: boolean }[] = [];
      for (let round = 0; round < 3; round++) {
        for (const len of lens) for (const want of wants) cases.push({ len, want, fail: (len + want + round) % 5 === 0 });
      }
      // All at once, more than the slots: each slot carries calls of other sizes before and after.
      const sent = cases.map((c) => request(c.len, c.want, c.fail));
      const bufs = sent.map((s) => s.slice());
      const results = await Promise.all(bufs.map((b) => e.ioctl(1, b)));
      cases.forEach((c, i) => {
        expect(results[i]!.ret).toBe(c.fail ? -1 : 0);
        expectReply(bufs[i]!, sent[i]!, c.want, c.fail);
      });
    } finally {
      e.close();
    }
  });

  test('without replyBytes the whole buffer comes back (the engine\'s default for other protocols)', async () => {
    const e = IoctlEngine.start({ fd: fs.openSync('/dev/null', 'r'), libc: '', slots: 2, slotSize: 4096, fakeIoctl: FAKE });
    try {
      const b = request(1024, 500);
      await e.ioctl(1, b);
      expect(b[600]).toBe(CANARY);
    } finally {
      e.close();
    }
  });

  test('a replyBytes answer out of range or NaN copies everything (never less than asked for by mistake)', async () => {
    for (const answer of [-1, Number.NaN, 1e9]) {
      const e = IoctlEngine.start({ fd: fs.openSync('/dev/null', 'r'), libc: '', slots: 2, slotSize: 4096, fakeIoctl: FAKE, replyBytes: () => answer });
      try {
        const b = request(1024, 500);
        await e.ioctl(1, b);
        expect(b[1000]).toBe(CANARY);
      } finally {
        e.close();
      }
    }
  });

  test('through a transport opened with replyBytes (the real backend\'s wiring), on the engine path', async () => {
    const t = await openControl('/dev/zero', { asyncPath: 'engine', engineFake: FAKE, replyBytes: dmReplyBytes });
    try {
      for (const want of [305, 2000]) {
        const sent = request(16384, want);
        const b = sent.slice();
        expect((await t.ioctlAsync(1, b, 'batch')).ret).toBe(0);
        expectReply(b, sent, want, false);
      }
    } finally {
      t.close();
    }
  });
});
