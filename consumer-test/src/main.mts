// A consumer's program, compiled against the packed tarball (strict, noUncheckedIndexedAccess,
// module nodenext) by the lowest supported TypeScript and the project's own, then run on the
// simulated kernel. It uses each entry point the way README shows it.
import assert from 'node:assert/strict';
import {
  DeviceMapper, DmBaseError, DmError, DmCodecError, DmThinMetadataError, openThinMetadata, buildTarget, createTypedDevice, parseStatus, parseTable,
  type DeviceEvent, type TypedTarget,
} from 'devicemapper';
import { SimulatedKernel } from 'devicemapper/testing';
import { codec, requestCode } from 'devicemapper/codec';
import { DmctlSchemas, runDmctl } from 'devicemapper/cli';
import { defineTarget, u64Schema } from 'devicemapper/define-target';
import * as thinMetadata from 'devicemapper/thin-metadata';

const kernel = new SimulatedKernel({ version: [4, 48, 0] });
kernel.addBlockDevice('/dev/loop0', 7, 0, 131072);
kernel.addBlockDevice('/dev/loop1', 7, 1, 131072);

{
  await using dm = await DeviceMapper.open({ backend: kernel.backend() });
  assert.deepEqual(await dm.version(), [4, 48, 0]);

  await dm.createDevice({
    name: 'consumer', uuid: 'CONSUMER-1',
    table: [{ start: 0, length: 2048, type: 'linear', params: '/dev/loop0 0' }],
  });
  const info = await dm.info('consumer');
  assert.ok(info.exists);
  const { targets } = await dm.table('consumer');
  const first = targets[0];                       // noUncheckedIndexedAccess: possibly undefined
  assert.ok(first);
  assert.equal(first.length, 2048n);
  assert.equal(first.params, '7:0 0');

  const table: TypedTarget[] = [{ start: 0, length: 4096, type: 'striped', chunkSizeSectors: 8, stripes: [
    { device: '/dev/loop0', offsetSectors: 0 }, { device: { major: 7, minor: 1 }, offsetSectors: 0 },
  ] }];
  await createTypedDevice(dm, { name: 'typed', table });
  const [parsed] = parseTable((await dm.table('typed')).targets);
  assert.equal(parsed?.type, 'striped');
  const [status] = (await dm.status('typed')).targets.map(parseStatus);
  assert.equal(status?.type, 'striped');

  // A key from node:crypto is a Buffer: the typed builders take any Uint8Array.
  const key: Buffer = Buffer.alloc(32, 7);
  const cryptLine: TypedTarget = { start: 0, length: 2048, type: 'crypt', cipher: 'aes-xts-plain64', key, ivOffsetSectors: 0, device: '/dev/loop1', offsetSectors: 0 };
  assert.equal(buildTarget(cryptLine).type, 'crypt');

  // Events: a rename arrives as one `renamed` event.
  const stop = new AbortController();
  const seen: DeviceEvent[] = [];
  const watching = (async () => {
    try {
      for await (const e of dm.events({ signal: stop.signal })) {
        seen.push(e);
        if (e.kind === 'renamed') break;
      }
    } catch (e) {
      if (!stop.signal.aborted) throw e;
    }
  })();
  // The iterator has its first snapshot once its poll is parked in the kernel.
  for (let i = 0; i < 2000 && kernel.pendingWaits === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await dm.rename('typed', { newName: 'typed2' });
  await Promise.race([watching, new Promise((r) => setTimeout(r, 20_000).unref())]);   // hang guard
  stop.abort();
  await watching;
  assert.ok(seen.some((e) => e.kind === 'renamed' && e.name === 'typed2'), JSON.stringify(seen, (_, v) => typeof v === 'bigint' ? String(v) : v));

  // Typed errors: bad input before any syscall, the kernel's errno after one.
  await assert.rejects(dm.create({ name: 'x'.repeat(200) }), (e: unknown) => e instanceof DmCodecError);
  kernel.openDevice('consumer');
  await assert.rejects(dm.remove('consumer'), (e: unknown) => e instanceof DmError && e.code === 'EBUSY');
  kernel.closeDevice('consumer');
  // Every error of the package is a DmBaseError with a literal code.
  await assert.rejects(dm.suspend('missing'), (e: unknown) => e instanceof DmBaseError && e instanceof DmError && e.code === 'ENXIO');

  // dmctl as a library, from its own entry point (devicemapper/cli), with its --json schema.
  let out = '';
  const exit = await runDmctl(['version', '--json'], {
    open: () => DeviceMapper.open({ backend: kernel.backend() }), stdout: (t) => { out += t; }, stderr: () => undefined, env: {},
  });
  assert.equal(exit, 0);
  assert.ok(DmctlSchemas.version.parse(JSON.parse(out)));

  await dm.removeDevice('consumer');
  await dm.removeDevice('typed2');
  assert.deepEqual(await dm.list(), []);
}

// The pure codec.
const req = codec.encodeRequest('load', {
  id: { name: 'x' },
  targets: [{ start: 0, length: 8, type: 'linear', params: '7:0 0' }],
});
assert.equal(codec.decodeHeader(req).data_size, 360);
assert.equal(typeof requestCode('listDevices'), 'number');

// A target unit of the user's own, from its zod shape (devicemapper/define-target).
const mine = defineTarget({
  type: 'mine', shape: { sizeSectors: u64Schema }, render: (t) => [String(t.sizeSectors)],
  parse: (c) => ({ sizeSectors: c.big('sizeSectors') }), status: (c) => ({ extra: c.rest() }),
});
assert.equal(mine.lineSchema.safeParse({ start: 0, length: 8, type: 'mine', sizeSectors: 8n }).success, true);

// devicemapper/thin-metadata: the root's declarations, without the client (what `dmctl thin` imports).
assert.equal(thinMetadata.openThinMetadata, openThinMetadata);
assert.equal(thinMetadata.DmThinMetadataError, DmThinMetadataError);
await assert.rejects(thinMetadata.openThinMetadata('/nonexistent/metadata'), (e: unknown) => e instanceof DmBaseError && (e as { code?: unknown }).code === 'ENOENT');

console.log('consumer (ESM): ok');
