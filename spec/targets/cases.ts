/**
 * Typed inputs and the lines the kernel printed for them (Debian 6.1 / 6.12, dmsetup probes
 * in the project VM; loop0…5 are 7:0…7:5, the pool is 254:0). Shared by the unit, fuzz and
 * simulator tests.
 */
import type { TypedTarget } from '../../lib/targets/index.js';

export const KEY32 = Uint8Array.from({ length: 32 }, (_, i) => [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef][i % 8]!);
export const KEY32_HEX = '0123456789abcdef'.repeat(4);

/** Paths of the loop devices in the cases. */
export const LOOPS: Record<string, { major: number; minor: number }> = Object.fromEntries(
  Array.from({ length: 8 }, (_, i) => [`/dev/loop${i}`, { major: 7, minor: i }]),
);
export const resolveLoop = (p: string) => {
  const d = LOOPS[p];
  if (!d) throw new Error(`unknown ${p}`);
  return d;
};

export interface TableCase {
  readonly name: string;
  readonly input: TypedTarget;
  /** What the builder renders (paths as given). */
  readonly params: string;
  /** What the kernel printed in its table. */
  readonly kernel: string;
}

export const TABLE_CASES: readonly TableCase[] = [
  { name: 'linear', input: { start: 0, length: 1000, type: 'linear', device: '/dev/loop0', offsetSectors: 8 }, params: '/dev/loop0 8', kernel: '7:0 8' },
  { name: 'linear {major,minor}', input: { start: 0, length: 1000, type: 'linear', device: { major: 7, minor: 0 }, offsetSectors: 8n }, params: '7:0 8', kernel: '7:0 8' },
  {
    name: 'striped', input: { start: 0, length: 2048, type: 'striped', chunkSizeSectors: 8, stripes: [{ device: '/dev/loop0', offsetSectors: 0 }, { device: '/dev/loop1', offsetSectors: 16 }] },
    params: '2 8 /dev/loop0 0 /dev/loop1 16', kernel: '2 8 7:0 0 7:1 16',
  },
  { name: 'zero', input: { start: 0, length: 100, type: 'zero' }, params: '', kernel: '' },
  { name: 'error', input: { start: 0, length: 100, type: 'error' }, params: '', kernel: '' },
  {
    name: 'crypt', input: { start: 0, length: 2048, type: 'crypt', cipher: 'aes-xts-plain64', key: KEY32, ivOffsetSectors: 0, device: '/dev/loop0', offsetSectors: 0 },
    params: `aes-xts-plain64 ${KEY32_HEX} 0 /dev/loop0 0`, kernel: `aes-xts-plain64 ${KEY32_HEX} 0 7:0 0`,
  },
  {
    name: 'crypt options', input: { start: 0, length: 2048, type: 'crypt', cipher: 'aes-cbc-essiv:sha256', key: KEY32.slice(0, 16), ivOffsetSectors: 0, device: '/dev/loop0', offsetSectors: 0, submitFromCryptCpus: true, sameCpuCrypt: true },
    params: `aes-cbc-essiv:sha256 ${KEY32_HEX.slice(0, 32)} 0 /dev/loop0 0 2 same_cpu_crypt submit_from_crypt_cpus`,
    kernel: `aes-cbc-essiv:sha256 ${KEY32_HEX.slice(0, 32)} 0 7:0 0 2 same_cpu_crypt submit_from_crypt_cpus`,
  },
  {
    name: 'crypt capi workqueues', input: { start: 0, length: 2048, type: 'crypt', cipher: 'capi:xts(aes)-plain64', key: KEY32, ivOffsetSectors: 0, device: '/dev/loop0', offsetSectors: 0, noReadWorkqueue: true, noWriteWorkqueue: true, sectorSizeBytes: 512 },
    params: `capi:xts(aes)-plain64 ${KEY32_HEX} 0 /dev/loop0 0 2 no_read_workqueue no_write_workqueue`,
    kernel: `capi:xts(aes)-plain64 ${KEY32_HEX} 0 7:0 0 2 no_read_workqueue no_write_workqueue`,
  },
  {
    name: 'crypt keyring', input: { start: 0, length: 2048, type: 'crypt', cipher: 'aes-xts-plain64', key: { keyring: { sizeBytes: 64, type: 'logon', description: 'cryptsetup:x' } }, ivOffsetSectors: 0, device: '/dev/loop0', offsetSectors: 0, allowDiscards: true, sectorSizeBytes: 4096, ivLargeSectors: true },
    params: 'aes-xts-plain64 :64:logon:cryptsetup:x 0 /dev/loop0 0 3 allow_discards sector_size:4096 iv_large_sectors',
    kernel: 'aes-xts-plain64 :64:logon:cryptsetup:x 0 7:0 0 3 allow_discards sector_size:4096 iv_large_sectors',
  },
  {
    name: 'thin-pool', input: { start: 0, length: 131072, type: 'thin-pool', metadataDevice: '/dev/loop3', dataDevice: '/dev/loop1', blockSizeSectors: 128, lowWaterMarkBlocks: 0 },
    params: '/dev/loop3 /dev/loop1 128 0 0', kernel: '7:3 7:1 128 0 0 ',
  },
  {
    name: 'thin-pool features', input: { start: 0, length: 131072, type: 'thin-pool', metadataDevice: '/dev/loop3', dataDevice: '/dev/loop1', blockSizeSectors: 128, lowWaterMarkBlocks: 10, noDiscardPassdown: true },
    params: '/dev/loop3 /dev/loop1 128 10 1 no_discard_passdown', kernel: '7:3 7:1 128 10 1 no_discard_passdown ',
  },
  { name: 'thin', input: { start: 0, length: 20000, type: 'thin', poolDevice: { major: 254, minor: 0 }, deviceId: 0 }, params: '254:0 0', kernel: '254:0 0' },
  { name: 'thin external origin', input: { start: 0, length: 20000, type: 'thin', poolDevice: '254:0', deviceId: 1, externalOrigin: '/dev/loop2' }, params: '254:0 1 /dev/loop2', kernel: '254:0 1 7:2' },
  {
    name: 'cache', input: { start: 0, length: 131072, type: 'cache', metadataDevice: '/dev/loop3', cacheDevice: '/dev/loop4', originDevice: '/dev/loop0', blockSizeSectors: 64, ioMode: 'writethrough', policy: 'smq' },
    params: '/dev/loop3 /dev/loop4 /dev/loop0 64 1 writethrough smq 0', kernel: '7:3 7:4 7:0 64 1 writethrough smq 0',
  },
  {
    name: 'cache mq args', input: { start: 0, length: 131072, type: 'cache', metadataDevice: '/dev/loop3', cacheDevice: '/dev/loop4', originDevice: '/dev/loop0', blockSizeSectors: 64, ioMode: 'writeback', metadata2: true, policy: 'mq', policyArgs: { migration_threshold: 100 } },
    params: '/dev/loop3 /dev/loop4 /dev/loop0 64 2 metadata2 writeback mq 2 migration_threshold 100', kernel: '7:3 7:4 7:0 64 2 metadata2 writeback mq 2 migration_threshold 100',
  },
  { name: 'snapshot-origin', input: { start: 0, length: 131072, type: 'snapshot-origin', origin: '/dev/loop0' }, params: '/dev/loop0', kernel: '7:0' },
  {
    name: 'snapshot', input: { start: 0, length: 131072, type: 'snapshot', origin: '/dev/loop0', cow: '/dev/loop4', persistence: 'P', chunkSizeSectors: 8 },
    params: '/dev/loop0 /dev/loop4 P 8', kernel: '7:0 7:4 P 8',
  },
  {
    name: 'snapshot discard', input: { start: 0, length: 131072, type: 'snapshot', origin: '/dev/loop0', cow: '/dev/loop4', persistence: 'PO', chunkSizeSectors: 8, discardZeroesCow: true, discardPassdownOrigin: true },
    params: '/dev/loop0 /dev/loop4 PO 8 2 discard_zeroes_cow discard_passdown_origin', kernel: '7:0 7:4 PO 8 2 discard_zeroes_cow discard_passdown_origin',
  },
  {
    name: 'snapshot-merge', input: { start: 0, length: 131072, type: 'snapshot-merge', origin: '/dev/loop0', cow: '/dev/loop4', persistence: 'P', chunkSizeSectors: 8 },
    params: '/dev/loop0 /dev/loop4 P 8', kernel: '7:0 7:4 P 8',
  },
  {
    name: 'flakey corrupt', input: { start: 0, length: 2048, type: 'flakey', device: '/dev/loop0', offsetSectors: 0, upSeconds: 0, downSeconds: 5, corruptBioByte: { byte: 32, direction: 'r', value: 1, flags: 0 } },
    params: '/dev/loop0 0 0 5 5 corrupt_bio_byte 32 r 1 0', kernel: '7:0 0 0 5 5 corrupt_bio_byte 32 r 1 0 ',
  },
  {
    name: 'flakey random', input: { start: 0, length: 2048, type: 'flakey', device: '/dev/loop0', offsetSectors: 0, upSeconds: 0, downSeconds: 5, randomReadCorrupt: 100 },
    params: '/dev/loop0 0 0 5 2 random_read_corrupt 100', kernel: '7:0 0 0 5 2 random_read_corrupt 100',
  },
  { name: 'delay', input: { start: 0, length: 2048, type: 'delay', read: { device: '/dev/loop0', offsetSectors: 0, delayMs: 100 } }, params: '/dev/loop0 0 100', kernel: '7:0 0 100' },
  {
    name: 'delay 3 classes', input: { start: 0, length: 2048, type: 'delay', read: { device: '/dev/loop0', offsetSectors: 0, delayMs: 100 }, write: { device: '/dev/loop1', offsetSectors: 0, delayMs: 200 }, flush: { device: '/dev/loop2', offsetSectors: 0, delayMs: 300 } },
    params: '/dev/loop0 0 100 /dev/loop1 0 200 /dev/loop2 0 300', kernel: '7:0 0 100 7:1 0 200 7:2 0 300',
  },
  {
    name: 'mirror core nosync', input: { start: 0, length: 131072, type: 'mirror', log: { type: 'core', regionSizeSectors: 1024, sync: 'nosync' }, mirrors: [{ device: '/dev/loop0', offsetSectors: 0 }, { device: '/dev/loop1', offsetSectors: 0 }] },
    params: 'core 2 1024 nosync 2 /dev/loop0 0 /dev/loop1 0', kernel: 'core 2 1024 nosync 2 7:0 0 7:1 0',
  },
  {
    name: 'mirror disk log', input: { start: 0, length: 131072, type: 'mirror', log: { type: 'disk', device: '/dev/loop3', regionSizeSectors: 1024 }, mirrors: [{ device: '/dev/loop0', offsetSectors: 0 }, { device: '/dev/loop1', offsetSectors: 0 }], handleErrors: true, keepLog: true },
    params: 'disk 2 /dev/loop3 1024 2 /dev/loop0 0 /dev/loop1 0 2 handle_errors keep_log', kernel: 'disk 2 7:3 1024 2 7:0 0 7:1 0 2 handle_errors keep_log',
  },
  {
    name: 'raid1', input: { start: 0, length: 131072, type: 'raid', raidType: 'raid1', chunkSizeSectors: 0, regionSizeSectors: 1024, devices: [{ meta: null, data: '/dev/loop0' }, { meta: null, data: '/dev/loop1' }] },
    params: 'raid1 3 0 region_size 1024 2 - /dev/loop0 - /dev/loop1', kernel: 'raid1 3 0 region_size 1024 2 - 7:0 - 7:1',
  },
  {
    name: 'raid5_ls', input: { start: 0, length: 65536, type: 'raid', raidType: 'raid5_ls', chunkSizeSectors: 128, devices: [{ meta: '/dev/loop3', data: '/dev/loop0' }, { meta: '/dev/loop4', data: '/dev/loop1' }, { meta: '/dev/loop5', data: '/dev/loop2' }] },
    params: 'raid5_ls 1 128 3 /dev/loop3 /dev/loop0 /dev/loop4 /dev/loop1 /dev/loop5 /dev/loop2', kernel: 'raid5_ls 1 128 3 7:3 7:0 7:4 7:1 7:5 7:2',
  },
  {
    name: 'raid10', input: { start: 0, length: 65536, type: 'raid', raidType: 'raid10', chunkSizeSectors: 64, raid10Copies: 2, raid10Format: 'near', devices: [{ meta: null, data: '/dev/loop0' }, { meta: null, data: '/dev/loop1' }] },
    params: 'raid10 5 64 raid10_copies 2 raid10_format near 2 - /dev/loop0 - /dev/loop1', kernel: 'raid10 5 64 raid10_copies 2 raid10_format near 2 - 7:0 - 7:1',
  },
  {
    name: 'integrity', input: { start: 0, length: 8, type: 'integrity', device: '/dev/loop5', offsetSectors: 0, tagSizeBytes: 4, mode: 'J', journalSectors: 176, internalHash: { algorithm: 'crc32c' } },
    params: '/dev/loop5 0 4 J 2 journal_sectors:176 internal_hash:crc32c',
    kernel: '7:5 0 4 J 6 journal_sectors:176 interleave_sectors:32768 buffer_sectors:128 journal_watermark:50 commit_time:10000 internal_hash:crc32c',
  },
  {
    name: 'integrity hmac', input: { start: 0, length: 8, type: 'integrity', device: '/dev/loop5', offsetSectors: 0, tagSizeBytes: 32, mode: 'J', journalSectors: 88, internalHash: { algorithm: 'hmac(sha256)', key: KEY32.slice(0, 8) } },
    params: '/dev/loop5 0 32 J 2 journal_sectors:88 internal_hash:hmac(sha256):0123456789abcdef',
    kernel: '7:5 0 32 J 6 journal_sectors:88 interleave_sectors:32768 buffer_sectors:128 journal_watermark:50 commit_time:10000 internal_hash:hmac(sha256):0123456789abcdef',
  },
  {
    // Measured on 6.1 (a 64 MiB loop device): every mode prints the journal, interleave and buffer sizes.
    name: 'integrity direct', input: { start: 0, length: 8192, type: 'integrity', device: '/dev/loop3', offsetSectors: 0, tagSizeBytes: 4, mode: 'D', journalSectors: 880, internalHash: { algorithm: 'crc32c' } },
    params: '/dev/loop3 0 4 D 2 journal_sectors:880 internal_hash:crc32c',
    kernel: '7:3 0 4 D 4 journal_sectors:880 interleave_sectors:32768 buffer_sectors:128 internal_hash:crc32c',
  },
  {
    name: 'integrity bitmap', input: { start: 0, length: 8192, type: 'integrity', device: '/dev/loop3', offsetSectors: 0, tagSizeBytes: 4, mode: 'B', journalSectors: 880, internalHash: { algorithm: 'crc32c' } },
    params: '/dev/loop3 0 4 B 2 journal_sectors:880 internal_hash:crc32c',
    kernel: '7:3 0 4 B 6 journal_sectors:880 interleave_sectors:32768 buffer_sectors:128 sectors_per_bit:32768 bitmap_flush_interval:10000 internal_hash:crc32c',
  },
  {
    name: 'integrity bitmap tuned', input: { start: 0, length: 8192, type: 'integrity', device: '/dev/loop3', offsetSectors: 0, tagSizeBytes: 4, mode: 'B', journalSectors: 880, sectorsPerBit: 8192, bitmapFlushIntervalMs: 5000, allowDiscards: true, internalHash: { algorithm: 'crc32c' } },
    params: '/dev/loop3 0 4 B 5 allow_discards journal_sectors:880 sectors_per_bit:8192 bitmap_flush_interval:5000 internal_hash:crc32c',
    kernel: '7:3 0 4 B 7 allow_discards journal_sectors:880 interleave_sectors:32768 buffer_sectors:128 sectors_per_bit:8192 bitmap_flush_interval:5000 internal_hash:crc32c',
  },
  {
    name: 'integrity recovery', input: { start: 0, length: 8192, type: 'integrity', device: '/dev/loop3', offsetSectors: 0, tagSizeBytes: 4, mode: 'R', journalSectors: 880, internalHash: { algorithm: 'crc32c' } },
    params: '/dev/loop3 0 4 R 2 journal_sectors:880 internal_hash:crc32c',
    kernel: '7:3 0 4 R 4 journal_sectors:880 interleave_sectors:32768 buffer_sectors:128 internal_hash:crc32c',
  },
  {
    // Measured on 7.3 (integrity 1.14), on a dm-integrity device without an internal hash (its
    // integrity profile holds the tags): the inline mode prints only its buffer size.
    name: 'integrity inline', input: { start: 0, length: 8192, type: 'integrity', device: '/dev/loop3', offsetSectors: 0, tagSizeBytes: 4, mode: 'I', internalHash: { algorithm: 'crc32c' } },
    params: '/dev/loop3 0 4 I 1 internal_hash:crc32c', kernel: '7:3 0 4 I 2 buffer_sectors:128 internal_hash:crc32c',
  },
  {
    name: 'clone options (7.3)', input: { start: 0, length: 65536, type: 'clone', metadataDevice: '/dev/loop2', destinationDevice: '/dev/loop1', sourceDevice: '/dev/loop0', regionSizeSectors: 8, noHydration: true, noDiscardPassdown: true, hydrationThreshold: 2, hydrationBatchRegions: 8 },
    params: '/dev/loop2 /dev/loop1 /dev/loop0 8 2 no_hydration no_discard_passdown 4 hydration_threshold 2 hydration_batch_size 8',
    kernel: '7:2 7:1 7:0 8 2 no_hydration no_discard_passdown 4 hydration_threshold 2 hydration_batch_size 8',
  },
  {
    name: 'vdo threads and switches (the 7.3 line, a smaller volume)', input: { start: 0, length: 8388608, type: 'vdo', storageDevice: '7:4', storageSizeBlocks: 65536, minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380, maxDiscardBlocks: 8, ackThreads: 1, bioThreads: 1, cpuThreads: 1, compression: false, deduplication: true },
    params: 'V4 7:4 65536 4096 32768 16380 maxDiscard 8 ack 1 bio 1 cpu 1 compression off deduplication on',
    kernel: 'V4 7:4 65536 4096 32768 16380 maxDiscard 8 ack 1 bio 1 cpu 1 compression off deduplication on',
  },
  {
    name: 'writecache', input: { start: 0, length: 131072, type: 'writecache', mode: 's', originDevice: '/dev/loop0', cacheDevice: '/dev/loop4', blockSizeBytes: 4096 },
    params: 's /dev/loop0 /dev/loop4 4096 0', kernel: 's 7:0 7:4 4096 0',
  },
  {
    name: 'writecache options', input: { start: 0, length: 131072, type: 'writecache', mode: 's', originDevice: '/dev/loop0', cacheDevice: '/dev/loop4', blockSizeBytes: 4096, highWatermarkPercent: 60, lowWatermarkPercent: 40, writebackJobs: 100 },
    params: 's /dev/loop0 /dev/loop4 4096 6 high_watermark 60 low_watermark 40 writeback_jobs 100', kernel: 's 7:0 7:4 4096 6 high_watermark 60 low_watermark 40 writeback_jobs 100',
  },
  { name: 'era', input: { start: 0, length: 131072, type: 'era', metadataDevice: '/dev/loop3', originDevice: '/dev/loop0', blockSizeSectors: 128 }, params: '/dev/loop3 /dev/loop0 128', kernel: '7:3 7:0 128' },
  {
    name: 'multipath round-robin', input: { start: 0, length: 131072, type: 'multipath', groups: [{ selector: 'round-robin', paths: [{ device: '/dev/loop0', args: ['1000'] }, { device: '/dev/loop1', args: ['1000'] }] }] },
    params: '0 0 1 1 round-robin 0 2 1 /dev/loop0 1000 /dev/loop1 1000', kernel: '0 0 1 1 round-robin 0 2 1 7:0 1 7:1 1 ',
  },
  {
    name: 'multipath two groups', input: {
      start: 0, length: 131072, type: 'multipath', features: ['queue_if_no_path'], initialGroup: 1,
      groups: [{ selector: 'service-time', paths: [{ device: '/dev/loop0', args: ['1', '1'] }] }, { selector: 'queue-length', paths: [{ device: '/dev/loop1', args: ['1'] }] }],
    },
    params: '1 queue_if_no_path 0 2 1 service-time 0 1 2 /dev/loop0 1 1 queue-length 0 1 1 /dev/loop1 1',
    kernel: '1 queue_if_no_path 0 2 1 service-time 0 1 2 7:0 1 1 queue-length 0 1 1 7:1 1 ',
  },
  {
    name: 'clone', input: { start: 0, length: 131072, type: 'clone', metadataDevice: '/dev/loop3', destinationDevice: '/dev/loop1', sourceDevice: '/dev/loop0', regionSizeSectors: 8 },
    params: '/dev/loop3 /dev/loop1 /dev/loop0 8', kernel: '7:3 7:1 7:0 8',
  },
  {
    name: 'clone features', input: { start: 0, length: 131072, type: 'clone', metadataDevice: '/dev/loop3', destinationDevice: '/dev/loop1', sourceDevice: '/dev/loop0', regionSizeSectors: 64, noHydration: true, hydrationThreshold: 16, hydrationBatchRegions: 4 },
    params: '/dev/loop3 /dev/loop1 /dev/loop0 64 1 no_hydration 4 hydration_threshold 16 hydration_batch_size 4', kernel: '7:3 7:1 7:0 64 1 no_hydration 4 hydration_threshold 16 hydration_batch_size 4',
  },
  {
    name: 'clone core args only', input: { start: 0, length: 131072, type: 'clone', metadataDevice: '/dev/loop3', destinationDevice: '/dev/loop1', sourceDevice: '/dev/loop0', regionSizeSectors: 8, noDiscardPassdown: false, hydrationBatchRegions: 2 },
    params: '/dev/loop3 /dev/loop1 /dev/loop0 8 0 2 hydration_batch_size 2', kernel: '7:3 7:1 7:0 8 0 2 hydration_batch_size 2',
  },
  { name: 'ebs', input: { start: 0, length: 8192, type: 'ebs', device: '/dev/loop0', offsetSectors: 0, emulatedBlockSizeSectors: 8 }, params: '/dev/loop0 0 8', kernel: '7:0 0 8' },
  { name: 'ebs underlying', input: { start: 0, length: 8192, type: 'ebs', device: '/dev/loop0', offsetSectors: 16n, emulatedBlockSizeSectors: 4, underlyingBlockSizeSectors: 2 }, params: '/dev/loop0 16 4 2', kernel: '7:0 16 4 2' },
  {
    // vdo prints its constructor's words back as given: the device is named by number here.
    name: 'vdo', input: { start: 0, length: 2097152, type: 'vdo', storageDevice: { major: 7, minor: 2 }, storageSizeBlocks: 65536, minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380 },
    params: 'V4 7:2 65536 4096 32768 16380', kernel: 'V4 7:2 65536 4096 32768 16380',
  },
  {
    name: 'vdo options', input: {
      start: 0, length: 2097152, type: 'vdo', storageDevice: '7:2', storageSizeBlocks: 65536n, minimumIoSizeBytes: 512, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 5000,
      maxDiscardBlocks: 8, ackThreads: 1, bioThreads: 2, bioRotationCount: 64, cpuThreads: 2, hashZoneThreads: 1, logicalThreads: 3, physicalThreads: 2, compression: true, deduplication: false,
    },
    params: 'V4 7:2 65536 512 32768 5000 maxDiscard 8 ack 1 bio 2 bioRotationInterval 64 cpu 2 hash 1 logical 3 physical 2 compression on deduplication off',
    kernel: 'V4 7:2 65536 512 32768 5000 maxDiscard 8 ack 1 bio 2 bioRotationInterval 64 cpu 2 hash 1 logical 3 physical 2 compression on deduplication off',
  },
  // Older vdo tools' lines (V0–V3): the kernel accepts them and prints back its constructor's
  // words joined by one space (vdo_status, STATUSTYPE_TABLE: original_string), so the kernel's
  // text is the built one; the retired words ride in `legacy`.
  {
    name: 'vdo V0 (no version word, no storage size; threads in one word)', input: {
      start: 0, length: 2097152, type: 'vdo', storageDevice: '7:2', minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380,
      ackThreads: 1, bioThreads: 4, bioRotationCount: 64, cpuThreads: 2, hashZoneThreads: 1, logicalThreads: 1, physicalThreads: 1,
      legacy: { version: 0, readCache: ['disabled', '0'], raid5Mode: 'on', writePolicy: 'auto', poolName: 'vdo0', threadConfig: 'ack=1,bio=4,bioRotationInterval=64,cpu=2,hash=1,logical=1,physical=1' },
    },
    params: '7:2 4096 disabled 0 32768 16380 on auto vdo0 ack=1,bio=4,bioRotationInterval=64,cpu=2,hash=1,logical=1,physical=1',
    kernel: '7:2 4096 disabled 0 32768 16380 on auto vdo0 ack=1,bio=4,bioRotationInterval=64,cpu=2,hash=1,logical=1,physical=1',
  },
  {
    name: 'vdo V1 (no threads: ".")', input: {
      start: 0, length: 2097152, type: 'vdo', storageDevice: '7:2', storageSizeBlocks: 65536, minimumIoSizeBytes: 512, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380,
      legacy: { version: 1, readCache: ['enabled', '16384'], raid5Mode: 'off', writePolicy: 'sync', poolName: 'vdo1', threadConfig: '.' },
    },
    params: 'V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1 .', kernel: 'V1 7:2 65536 512 enabled 16384 32768 16380 off sync vdo1 .',
  },
  {
    name: 'vdo V2 (key/value pairs after the pool name)', input: {
      start: 0, length: 2097152, type: 'vdo', storageDevice: '7:2', storageSizeBlocks: 65536n, minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380,
      maxDiscardBlocks: 1500, ackThreads: 1, bioThreads: 4, cpuThreads: 2,
      legacy: { version: 2, raid5Mode: 'on', writePolicy: 'auto', poolName: 'vdo2' },
    },
    params: 'V2 7:2 65536 4096 32768 16380 on auto vdo2 maxDiscard 1500 ack 1 bio 4 cpu 2', kernel: 'V2 7:2 65536 4096 32768 16380 on auto vdo2 maxDiscard 1500 ack 1 bio 4 cpu 2',
  },
  {
    name: 'vdo V3 (write policy only)', input: {
      start: 0, length: 2097152, type: 'vdo', storageDevice: '7:2', storageSizeBlocks: 65536, minimumIoSizeBytes: 4096, blockMapCacheSizeBlocks: 32768, blockMapEraLengthBlocks: 16380,
      compression: true, deduplication: false, legacy: { version: 3, writePolicy: 'async' },
    },
    params: 'V3 7:2 65536 4096 32768 16380 async compression on deduplication off', kernel: 'V3 7:2 65536 4096 32768 16380 async compression on deduplication off',
  },
];

/** Status lines the kernels printed, with what the parser must make of them. */
export const STATUS_CASES: readonly { readonly type: string; readonly line: string; readonly expect: Record<string, unknown> }[] = [
  { type: 'linear', line: '', expect: { extra: [] } },
  { type: 'striped', line: '2 7:0 7:1 1 AD', expect: { devices: ['7:0', '7:1'], alive: [true, false], extra: [] } },
  { type: 'delay', line: '0 0 0', expect: { readsInFlight: 0, writesInFlight: 0, flushesInFlight: 0 } },
  { type: 'delay', line: '1 2', expect: { readsInFlight: 1, writesInFlight: 2, flushesInFlight: undefined } },
  {
    type: 'thin-pool', line: '0 215/2048 1/1024 33 rw discard_passdown queue_if_no_space - 512 ',
    expect: { health: 'ok', transactionId: 0n, usedMetadataBlocks: 215n, totalMetadataBlocks: 2048n, usedDataBlocks: 1n, totalDataBlocks: 1024n, heldMetadataRoot: 33n, mode: 'rw', discard: 'discard_passdown', whenNoSpace: 'queue', needsCheck: false, metadataLowWatermarkBlocks: 512n, extra: [] },
  },
  {
    type: 'thin-pool', line: '5 214/2048 1024/1024 - out_of_data_space ignore_discard error_if_no_space needs_check 512 future',
    expect: { health: 'ok', transactionId: 5n, heldMetadataRoot: null, mode: 'out_of_data_space', discard: 'ignore_discard', whenNoSpace: 'error', needsCheck: true, extra: ['future'] },
  },
  { type: 'thin-pool', line: 'Fail', expect: { health: 'fail', extra: [] } },
  { type: 'thin-pool', line: 'Error', expect: { health: 'error', extra: [] } },
  { type: 'thin', line: '128 127', expect: { health: 'ok', mappedSectors: 128n, highestMappedSector: 127n } },
  { type: 'thin', line: '0 -', expect: { health: 'ok', mappedSectors: 0n, highestMappedSector: null } },
  { type: 'thin', line: 'Fail', expect: { health: 'fail' } },
  {
    type: 'cache', line: '8 7/2048 64 0/256 0 0 0 0 0 0 0 1 writethrough 2 migration_threshold 4096 smq 0 rw - ',
    expect: { health: 'ok', metadataBlockSizeSectors: 8, usedMetadataBlocks: 7n, totalMetadataBlocks: 2048n, cacheBlockSizeSectors: 64, usedCacheBlocks: 0n, totalCacheBlocks: 256n, features: ['writethrough'], coreArgs: { migration_threshold: '4096' }, policy: 'smq', policyArgs: {}, metadataMode: 'rw', needsCheck: false, extra: [] },
  },
  {
    type: 'cache', line: '8 9/2048 64 0/256 1 2 3 4 5 6 7 2 metadata2 writeback 2 migration_threshold 100 mq 10 random_threshold 0 sequential_threshold 0 discard_promote_adjustment 0 read_promote_adjustment 0 write_promote_adjustment 0 rw - ',
    expect: { readHits: 1n, readMisses: 2n, writeHits: 3n, writeMisses: 4n, demotions: 5n, promotions: 6n, dirty: 7n, features: ['metadata2', 'writeback'], policy: 'mq', policyArgs: { random_threshold: '0', sequential_threshold: '0', discard_promote_adjustment: '0', read_promote_adjustment: '0', write_promote_adjustment: '0' } },
  },
  { type: 'cache', line: 'Fail', expect: { health: 'fail' } },
  { type: 'snapshot', line: '16/131072 16', expect: { state: 'active', allocatedSectors: 16n, totalSectors: 131072n, metadataSectors: 16n } },
  { type: 'snapshot', line: 'Invalid', expect: { state: 'invalid' } },
  { type: 'snapshot', line: 'Overflow', expect: { state: 'overflow' } },
  { type: 'snapshot-merge', line: 'Merge failed', expect: { state: 'merge_failed' } },
  { type: 'mirror', line: '2 7:0 7:1 128/128 1 AA 1 core', expect: { devices: ['7:0', '7:1'], syncedRegions: 128n, totalRegions: 128n, health: ['A', 'A'], logType: 'core', logArgs: [] } },
  { type: 'mirror', line: '2 7:0 7:1 43/128 1 AD 3 disk 7:3 A', expect: { health: ['A', 'D'], logType: 'disk', logArgs: ['7:3', 'A'] } },
  { type: 'raid', line: 'raid1 2 AA 131072/131072 idle 0 0 -', expect: { raidType: 'raid1', health: ['A', 'A'], syncedSectors: 131072n, totalSectors: 131072n, syncAction: 'idle', mismatches: 0n, dataOffsetSectors: 0n, journal: '-' } },
  { type: 'raid', line: 'raid1 2 Aa 99840/131072 check 0', expect: { health: ['A', 'a'], syncAction: 'check', dataOffsetSectors: undefined, journal: undefined } },
  { type: 'integrity', line: '0 15944 -', expect: { mismatches: 0n, providedDataSectors: 15944n, recalculatePosition: null } },
  { type: 'integrity', line: '3 15944 800', expect: { mismatches: 3n, recalculatePosition: 800n } },
  { type: 'writecache', line: '0 2040 2040 0 0 0 0 0 0 0 0 0 0 0', expect: { error: 0, totalBlocks: 2040n, freeBlocks: 2040n, writebackBlocks: 0n, stats: expectStats() } },
  { type: 'writecache', line: '-5 2040 10 3', expect: { error: -5, stats: undefined } },
  { type: 'verity', line: 'V', expect: { corrupted: false, fecCorrected: undefined } },
  { type: 'verity', line: 'C -', expect: { corrupted: true, fecCorrected: null } },
  { type: 'era', line: '8 12/2048 2 -', expect: { metadataBlockSizeSectors: 8, usedMetadataBlocks: 12n, totalMetadataBlocks: 2048n, currentEra: 2, heldMetadataRoot: null } },
  {
    type: 'multipath', line: '2 1 0 0 1 1 E 0 2 0 7:0 A 0 7:1 A 0 ',
    expect: { features: ['1', '0'], queueIo: true, pgInitCount: 0, nextGroup: 1, groups: [{ state: 'E', selectorStatus: [], paths: [{ device: '7:0', active: true, failCount: 0, selectorInfo: [] }, { device: '7:1', active: true, failCount: 0, selectorInfo: [] }] }] },
  },
  {
    type: 'multipath', line: '2 1 0 0 2 1 E 0 1 2 7:0 A 0 0 1 E 0 1 1 7:1 F 3 0',
    expect: { nextGroup: 1, groups: [{ state: 'E', selectorStatus: [], paths: [{ device: '7:0', active: true, failCount: 0, selectorInfo: ['0', '1'] }] }, { state: 'E', selectorStatus: [], paths: [{ device: '7:1', active: false, failCount: 3, selectorInfo: ['0'] }] }] },
  },
  // clone and vdo lines measured on 7.3 (clone 1.0.0, vdo 9.2.0, which formats an empty volume itself).
  {
    type: 'clone', line: '8 6/2048 64 0/1024 0 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw',
    expect: { health: 'ok', metadataBlockSizeSectors: 8, usedMetadataBlocks: 6n, totalMetadataBlocks: 2048n, regionSizeSectors: 64, hydratedRegions: 0n, totalRegions: 1024n, hydratingRegions: 0, features: ['no_hydration'], hydrationThreshold: 1, hydrationBatchRegions: 1, metadataMode: 'rw', extra: [] },
  },
  {
    type: 'clone', line: '8 6/2048 64 1024/1024 0 0 4 hydration_threshold 16 hydration_batch_size 4 rw',
    expect: { health: 'ok', hydratedRegions: 1024n, totalRegions: 1024n, features: [], hydrationThreshold: 16, hydrationBatchRegions: 4, metadataMode: 'rw', extra: [] },
  },
  {
    type: 'vdo', line: '/dev/loop4 normal - opening offline 1049284 2097152',
    expect: { device: '/dev/loop4', operatingMode: 'normal', inRecovery: false, indexState: 'opening', compressionState: 'offline', usedPhysicalBlocks: 1049284n, totalPhysicalBlocks: 2097152n, extra: [] },
  },
  {
    type: 'clone', line: '8 14/2048 8 3/8192 2 2 no_hydration no_discard_passdown 4 hydration_threshold 16 hydration_batch_size 4 ro',
    expect: { hydratedRegions: 3n, totalRegions: 8192n, hydratingRegions: 2, features: ['no_hydration', 'no_discard_passdown'], hydrationThreshold: 16, hydrationBatchRegions: 4, metadataMode: 'ro' },
  },
  { type: 'clone', line: 'Fail', expect: { health: 'fail', extra: [] } },
  { type: 'clone', line: 'Error', expect: { health: 'error', extra: [] } },
  { type: 'ebs', line: '', expect: { extra: [] } },
  {
    type: 'vdo', line: '/dev/loop2 normal - online offline 4128 65536',
    expect: { device: '/dev/loop2', operatingMode: 'normal', inRecovery: false, indexState: 'online', compressionState: 'offline', usedPhysicalBlocks: 4128n, totalPhysicalBlocks: 65536n, extra: [] },
  },
  { type: 'vdo', line: '/dev/sdb recovering recovering opening online 1 2', expect: { operatingMode: 'recovering', inRecovery: true, indexState: 'opening', compressionState: 'online' } },
  { type: 'vdo', line: '/dev/sdb read-only - error offline 1 2', expect: { operatingMode: 'read-only', indexState: 'error' } },
];

function expectStats() {
  return { reads: 0n, readHits: 0n, writes: 0n, writeHitsUncommitted: 0n, writeHitsCommitted: 0n, writesAround: 0n, writesAllocate: 0n, writesBlockedOnFreelist: 0n, flushes: 0n, discards: 0n };
}
