// A CommonJS consumer: require() of the ESM-only package (Node >= 20.19 loads ES modules
// without top-level await through require; TypeScript >= 5.8 types it under module nodenext).
import assert = require('node:assert/strict');
import dmlib = require('devicemapper');
import testing = require('devicemapper/testing');
import codecEntry = require('devicemapper/codec');

const kernel = new testing.SimulatedKernel();
void (async () => {
  const dm = await dmlib.DeviceMapper.open({ backend: kernel.backend() });
  await dm.create({ name: 'from-cjs' });
  const [only] = await dm.list();
  assert.equal(only?.name, 'from-cjs');
  await dm.remove('from-cjs');
  dm.close();
  assert.equal(typeof codecEntry.codec.encodeRequest, 'function');
  console.log('consumer (CommonJS require): ok');
})().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
