// Events on a real kernel: a thin pool's low-water mark seen through events() (the events
// example of docs/client.md), no starvation of libuv's pool under 1,000 pending waits, cancel latency.
import { expect, test } from '@jest/globals';
import { pbkdf2 } from 'node:crypto';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { DeviceMapper, parseStatus, type DeviceEvent } from '../../lib/index.js';
import { describeLive, kernelLabel, recordLiveFact, threadsInPoll } from './live-env.js';
import { clientParts } from '../../lib/client/internal-keys.js';
import { kernelEnv } from './kernel-env.js';

const env = kernelEnv();
const pbkdf2Async = promisify(pbkdf2);

function controlFds(): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try { if (fs.readlinkSync(`/proc/self/fd/${fd}`) === '/dev/mapper/control') n++; } catch { /* closed meanwhile */ }
  }
  return n;
}

async function median(times: number, f: () => Promise<unknown>): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

describeLive(`events on a real kernel [kernel ${kernelLabel}]`, () => {
  test('thin pool: the low-water mark arrives as a changed event (docs/client.md example)', async () => {
    const meta = await env.blockDevice(8192);       // 4 MiB
    const data = await env.blockDevice(131072);     // 64 MiB = 1024 blocks of 64 KiB
    const dm = await DeviceMapper.open();
    const pool = `dmts-pool-${process.pid}`;
    const thin = `dmts-thin-${process.pid}`;
    const sentinels: string[] = [];
    try {
      await dm.createDevice({ name: pool, table: [{ start: 0, length: 131072, type: 'thin-pool', params: `${meta.path} ${data.path} 128 1000` }] });
      await dm.message(pool, 0, 'create_thin 0');
      const p = await dm.info(pool);
      if (!p.exists) throw new Error('pool vanished');
      const t = await dm.createDevice({ name: thin, table: [{ start: 0, length: 131072, type: 'thin', params: `${p.dev.major}:${p.dev.minor} 0` }] });

      // --- the docs/client.md example, essentially: react when the pool crosses its low-water mark
      const seen: DeviceEvent[] = [];
      const lowWater = 1000n;
      // The iterator is live (its first snapshot taken) once it reports a device added after
      // that snapshot: only then may the pool cross its mark. A fixed delay raced with the
      // iterator's start on a loaded host (the crossing landed in its first snapshot), and so
      // would a single sentinel created too early: sentinels are added until one is reported.
      const events = dm.events({ filter: { namePrefix: pool, kinds: ['added', 'changed'] } });
      const first = events.next();
      let ready: IteratorResult<DeviceEvent> | undefined;
      for (let i = 0; ready === undefined && i < 100; i++) {
        sentinels.push(`${pool}-ready-${i}`);
        await dm.create({ name: sentinels[i]! });
        ready = await Promise.race([first, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      }
      expect(ready?.value).toMatchObject({ kind: 'added' });
      const watching = (async () => {
        for await (const e of events) {
          if (e.kind !== 'changed') continue;
          seen.push(e);
          const [p] = (await dm.status(pool)).targets.map(parseStatus);   // typed thin-pool status
          if (p && p.type === 'thin-pool' && p.status.health === 'ok'
              && p.status.totalDataBlocks - p.status.usedDataBlocks < lowWater) return p.status;
        }
        return undefined;
      })();
      const fd = fs.openSync(`/dev/dm-${t.dev.minor}`, fs.constants.O_WRONLY | fs.constants.O_SYNC);
      const chunk = Buffer.alloc(64 * 1024, 0xab);
      for (let i = 0; i < 40; i++) fs.writeSync(fd, chunk, 0, chunk.length, i * chunk.length); // 40 blocks > 24 free above the mark
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      const crossed = await Promise.race([watching, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20000))]);
      expect(crossed).not.toBe('timeout');
      expect(seen[0]).toMatchObject({ kind: 'changed', name: pool });
      expect(seen[0]!.delta).toBeGreaterThanOrEqual(1);
    } finally {
      for (const n of [thin, pool, ...sentinels]) if ((await dm.info(n)).exists) await dm.removeDevice(n);
      dm.close();
      await meta.release();
      await data.release();
    }
  });

  test('1,000 pending waits: fs and crypto keep their speed; one poll thread, two control fds', async () => {
    const dm = await DeviceMapper.open();
    const names = Array.from({ length: 20 }, (_, i) => `dmts-starve-${process.pid}-${i}`);
    const ac = new AbortController();
    try {
      for (const n of names) await dm.createDevice({ name: n, table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      const file = '/proc/self/status';
      const read = () => fs.promises.readFile(file);
      // Three concurrent pbkdf2 need three of libuv's four threads: if the library held two
      // or more threads, they would queue and take about twice as long.
      const crypto3 = () => Promise.all([0, 1, 2].map(() => pbkdf2Async('pw', 'salt', 20000, 32, 'sha256')));
      const idleRead = await median(15, read);
      const idleCrypto = await median(5, crypto3);
      const fdsBefore = controlFds();
      const waits = Array.from({ length: 1000 }, (_, i) => dm.wait(names[i % names.length]!, { signal: ac.signal }).catch((e: unknown) => e));
      await new Promise((r) => setTimeout(r, 200));
      expect(dm.pollerActive).toBe(true);
      const busyRead = await median(15, read);
      const busyCrypto = await median(5, crypto3);
      const fdsDuring = controlFds();
      const polling = threadsInPoll();
      recordLiveFact('starvation', {
        idleReadMs: idleRead, busyReadMs: busyRead, idleCrypto3Ms: idleCrypto, busyCrypto3Ms: busyCrypto,
        controlFdsBefore: fdsBefore, controlFdsDuring: fdsDuring, threadsInPoll: polling,
      });
      expect(fdsDuring - fdsBefore).toBe(1); // the shared poller's own fd, whatever the number of waiters
      expect(polling).toBe(1);               // one pool thread parked in poll(), not one per waiter
      // Timing under TCG on a shared host is noisy: a parked thread per waiter would make these
      // queue behind 1,000 polls (orders of magnitude), so a small factor is the real signal.
      expect(busyCrypto / idleCrypto).toBeLessThan(3);
      expect(busyRead).toBeLessThan(Math.max(idleRead * 4, idleRead + 10));
      const t0 = performance.now();
      ac.abort();
      const results = await Promise.all(waits);
      const cancelMs = performance.now() - t0;
      recordLiveFact('cancel1000WaitsMs', cancelMs);
      expect(results.every((e) => (e as Error).name === 'AbortError')).toBe(true);
      expect(cancelMs).toBeLessThan(2000);
      for (let i = 0; i < 200 && dm.pollerActive; i++) await new Promise((r) => setTimeout(r, 10));
      expect(dm.pollerActive).toBe(false);
    } finally {
      ac.abort();
      for (const n of names) if ((await dm.info(n)).exists) await dm.remove(n);
      dm.close();
    }
  });

  test('a DM_DEV_WAIT sleeping in the kernel stalls no batch (every async call on the engine but the wait)', async () => {
    // asyncPath 'engine': before waits had a path of their own, this wait sat in the engine's
    // in-order worker and every batch call queued behind it.
    const dm = await DeviceMapper.open({ asyncPath: 'engine' });
    const names = Array.from({ length: 4 }, (_, i) => `dmts-sleep-${process.pid}-${i}`);
    const renamed = `${names[0]}-r`;
    let sleeping: Promise<unknown> | undefined;
    try {
      for (const n of names) await dm.createDevice({ name: n, table: [{ start: 0, length: 8, type: 'zero', params: '' }] });
      const info = await dm.info(names[0]!);
      if (!info.exists) throw new Error('device vanished');
      // The DEV_WAIT of the race (a device replaced on the waited number, whose event_nr is the
      // waiter's): issued with the device's own event_nr, the kernel parks it.
      sleeping = dm[clientParts]().runner.runAsync('wait', { id: { name: names[0]! }, eventNr: info.eventNr });
      let returned = false;
      void sleeping.then(() => { returned = true; }, () => { returned = true; });
      await new Promise((r) => setTimeout(r, 300));
      expect(returned).toBe(false);
      const t0 = performance.now();
      for (let round = 0; round < 3; round++) {
        const st = await dm.statusMany(names, { timeoutMs: 20000 });
        expect(st.map((r) => r.ok)).toEqual(names.map(() => true));
      }
      recordLiveFact('batchesBesideSleepingWaitMs', performance.now() - t0);
      expect(returned).toBe(false); // it did sleep all along
      // A rename raises the device's table event: the wait returns with the new number.
      await dm.rename(names[0]!, { newName: renamed });
      const r = await Promise.race([sleeping, new Promise((resolve) => setTimeout(() => resolve('still sleeping'), 20000))]);
      expect(r).toMatchObject({ device: { eventNr: info.eventNr + 1 } });
    } finally {
      for (const n of [renamed, ...names]) if ((await dm.info(n)).exists) await dm.remove(n);
      dm.close();
    }
  });
});
