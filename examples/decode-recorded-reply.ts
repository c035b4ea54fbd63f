/**
 * The codec on its own, no kernel needed: build a DM_LIST_DEVICES request, then decode a
 * reply recorded from a kernel (a golden fixture) and print what the kernel said.
 *
 *   npm run example [-- path/to/reply.bin]
 */
import { readFileSync } from 'node:fs';
import { codec, COMMAND_TABLE, requestCode } from '../codec/index.js';

const replyPath = process.argv[2] ?? 'fixtures/kernel/x86_64/listDevices.withUuid.reply.bin';

const request = codec.encodeRequest('listDevices', { withUuid: true }, { bufferBytes: 1024 });
const h = codec.decodeHeader(request);
console.log(`request: ${COMMAND_TABLE.listDevices.kernelName} = ioctl 0x${requestCode('listDevices').toString(16)}`);
console.log(`  version ${h.version.join('.')}  data_size ${h.data_size}  data_start ${h.data_start}  flags 0x${h.flags.toString(16)}`);

const reply = codec.decodeReply('listDevices', new Uint8Array(readFileSync(replyPath)));
console.log(`reply from ${replyPath}:`);
console.log(`  kernel device-mapper ${reply.version.join('.')}${reply.bufferFull ? ' (buffer full: retry bigger)' : ''}`);
for (const d of reply.devices) {
  console.log(`  ${d.name.padEnd(12)} ${`${d.dev.major}:${d.dev.minor}`.padEnd(12)} event ${d.eventNr ?? '-'}  uuid ${d.uuid ?? '(none)'}`);
}
