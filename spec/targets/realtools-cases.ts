/**
 * Table and status lines as the kernel printed them for devices the real tools made
 * (spec/live/realtools.live.spec.ts): LVM2 2.03.16, cryptsetup 2.6.1 (Debian 12) on the
 * kernels of the matrix. Key bytes are replaced by a synthetic key of the same length; the
 * params are verbatim, trailing blanks included. The 5.10 captures kept only the params: their
 * `length` is nominal (no parser reads it).
 */
export interface RealLine {
  /** The device (names as the tools chose them, for the reader). */
  readonly device: string;
  readonly type: string;
  readonly length: number;
  readonly params: string;
  /** The kernel(s) it was seen on when not every one. */
  readonly kernels?: string;
}

/** Debian 6.1 (dm 4.47). */
export const REAL_TABLES: readonly RealLine[] = [
  { device: 'cint', type: 'integrity', length: 32328, params: '7:10 0 4 J 8 journal_sectors:176 interleave_sectors:32768 buffer_sectors:128 journal_watermark:50 commit_time:10000 fix_padding fix_hmac internal_hash:crc32c' },
  { device: 'cluks1', type: 'crypt', length: 28672, params: 'aes-xts-plain64 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 0 7:7 4096' },
  { device: 'cplain', type: 'crypt', length: 32768, params: 'aes-xts-plain64 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 0 7:6 0' },
  { device: 'cver', type: 'verity', length: 32768, params: '1 7:11 7:12 4096 4096 4096 1 sha256 3eb5d7daa4fdc4ed7cf0dce72a67082918a7b058cfa8786d1ea40594c7a36542 b40ba30e237f61909bf4ebafad9d9ef261fcfc334cdcf9408edb237a47d2fbd3 8 use_fec_from_device 7:13 fec_blocks 8191 fec_start 0 fec_roots 2' },
  { device: 'rt-corig', type: 'cache', length: 16384, params: '254:53 254:52 254:54 128 2 metadata2 writethrough smq 0' },
  { device: 'rt-corig2', type: 'cache', length: 16384, params: '254:58 254:57 254:59 128 2 metadata2 writethrough mq 0' },
  { device: 'rt-lin', type: 'snapshot-origin', length: 8192, params: '254:45' },
  { device: 'rt-mir', type: 'mirror', length: 8192, params: 'core 2 4096 nosync 2 254:48 0 254:49 0 1 handle_errors' },
  { device: 'rt-pool-tpool', type: 'thin-pool', length: 16384, params: '254:2 254:3 128 0 0 ' },
  { device: 'rt-raid1', type: 'raid', length: 8192, params: 'raid1 4 0 nosync region_size 4096 2 254:8 254:9 254:10 254:11' },
  { device: 'rt-raid10', type: 'raid', length: 8192, params: 'raid10 6 128 nosync region_size 4096 raid10_copies 2 4 254:27 254:28 254:29 254:30 254:31 254:32 254:33 254:34' },
  { device: 'rt-raid4', type: 'raid', length: 8192, params: 'raid4 4 128 nosync region_size 4096 3 254:13 254:14 254:15 254:16 254:17 254:18' },
  { device: 'rt-raid5', type: 'raid', length: 8192, params: 'raid5_ls 4 128 nosync region_size 4096 3 254:20 254:21 254:22 254:23 254:24 254:25' },
  { device: 'rt-rint', type: 'raid', length: 8192, params: 'raid1 3 0 region_size 4096 2 254:36 254:39 254:40 254:43' },
  { device: 'rt-rint_rimage_0', type: 'integrity', length: 8192, params: '254:38 0 4 J 8 meta_device:254:37 recalculate journal_sectors:176 interleave_sectors:1 buffer_sectors:128 journal_watermark:50 commit_time:10000 internal_hash:crc32c' },
  { device: 'rt-rint_rimage_1', type: 'integrity', length: 8192, params: '254:42 0 4 J 8 meta_device:254:41 recalculate journal_sectors:176 interleave_sectors:1 buffer_sectors:128 journal_watermark:50 commit_time:10000 internal_hash:crc32c' },
  { device: 'rt-snap', type: 'snapshot', length: 8192, params: '254:45 254:46 P 8' },
  { device: 'rt-str', type: 'striped', length: 8192, params: '2 128 7:0 10240 7:1 2048' },
  { device: 'rt-thin', type: 'thin', length: 32768, params: '254:4 1' },
  { device: 'rt-tsnap', type: 'thin', length: 32768, params: '254:4 2' },
  // Debian 5.10 (dm 4.43)
  { device: 'rt-r6', type: 'raid', length: 8192, params: 'raid6_zr 3 128 region_size 4096 5 254:27 254:28 254:29 254:30 254:31 254:32 254:33 254:34 254:35 254:36', kernels: '5.10' },
  { device: 'rt-worig', type: 'writecache', length: 8192, params: 's 254:73 254:72 4096 0', kernels: '5.10' },
  { device: 'cluks2', type: 'crypt', length: 8192, params: 'aes-xts-plain64 :64:logon:cryptsetup:5982297d-8dd6-4149-932f-9b5950505fcc-d0 0 7:8 32768', kernels: '5.10' },
  { device: 'cluks2i', type: 'crypt', length: 8192, params: 'capi:authenc(hmac(sha256),xts(aes))-plain64 :96:logon:cryptsetup:761d7718-869f-4faf-b901-4b1f990fdf7f-d0 0 254:77 0 1 integrity:32:aead', kernels: '5.10' },
  { device: 'cluks2i_dif', type: 'integrity', length: 8192, params: '7:9 32768 32 J 6 journal_sectors:264 interleave_sectors:32768 buffer_sectors:128 journal_watermark:50 commit_time:10000 fix_padding', kernels: '5.10' },
  { device: 'int', type: 'integrity', length: 8192, params: '7:10 0 4 J 7 journal_sectors:176 interleave_sectors:32768 buffer_sectors:128 journal_watermark:50 commit_time:10000 fix_padding internal_hash:crc32c', kernels: '5.10' },
  { device: 'rt-lin (merging)', type: 'snapshot-merge', length: 8192, params: '254:56 254:57 P 8', kernels: '5.10' },
  // Debian's newest (7.3, dm 4.50): integrity prints journal_sectors after buffer_sectors
  { device: 'rt-rint_rimage_0', type: 'integrity', length: 8192, params: '254:49 0 4 J 8 meta_device:254:48 recalculate interleave_sectors:1 buffer_sectors:128 journal_sectors:176 journal_watermark:50 commit_time:10000 internal_hash:crc32c', kernels: 'newest (7.3)' },
  { device: 'cluks2i_dif', type: 'integrity', length: 8192, params: '7:9 32768 32 J 6 interleave_sectors:32768 buffer_sectors:128 journal_sectors:264 journal_watermark:50 commit_time:10000 fix_padding', kernels: 'newest (7.3)' },
  { device: 'int', type: 'integrity', length: 8192, params: '7:10 0 4 J 8 interleave_sectors:32768 buffer_sectors:128 journal_sectors:176 journal_watermark:50 commit_time:10000 fix_padding fix_hmac internal_hash:crc32c', kernels: 'newest (7.3)' },
];

export const REAL_STATUS: readonly RealLine[] = [
  { device: 'cint', type: 'integrity', length: 32328, params: '0 32328 -' },
  { device: 'cluks1', type: 'crypt', length: 28672, params: '' },
  { device: 'cplain', type: 'crypt', length: 32768, params: '' },
  { device: 'cver', type: 'verity', length: 32768, params: 'V' },
  { device: 'rt-corig', type: 'cache', length: 16384, params: '8 9/1280 128 0/128 0 0 0 0 0 0 0 2 metadata2 writethrough 2 migration_threshold 2048 smq 0 rw - ' },
  { device: 'rt-corig2', type: 'cache', length: 16384, params: '8 9/1024 128 0/64 0 0 0 0 0 0 0 2 metadata2 writethrough 2 migration_threshold 2048 mq 10 random_threshold 0 sequential_threshold 0 discard_promote_adjustment 0 read_promote_adjustment 0 write_promote_adjustment 0 rw - ' },
  { device: 'rt-lin', type: 'snapshot-origin', length: 8192, params: '' },
  { device: 'rt-mir', type: 'mirror', length: 8192, params: '2 254:48 254:49 2/2 1 AA 1 core' },
  { device: 'rt-pool-tpool', type: 'thin-pool', length: 16384, params: '2 61/512 0/128 - rw discard_passdown queue_if_no_space - 128 ' },
  { device: 'rt-raid1', type: 'raid', length: 8192, params: 'raid1 2 AA 8192/8192 idle 0 0 -' },
  { device: 'rt-raid10', type: 'raid', length: 8192, params: 'raid10 4 AAAA 8192/8192 idle 0 0 -' },
  { device: 'rt-raid4', type: 'raid', length: 8192, params: 'raid4 3 AAA 4096/4096 idle 0 0 -' },
  { device: 'rt-raid5', type: 'raid', length: 8192, params: 'raid5_ls 3 AAA 4096/4096 idle 0 0 -' },
  { device: 'rt-rint', type: 'raid', length: 8192, params: 'raid1 2 AA 8192/8192 idle 0 0 -' },
  { device: 'rt-rint_rimage_0', type: 'integrity', length: 8192, params: '0 8192 8192' },
  { device: 'rt-rint_rimage_1', type: 'integrity', length: 8192, params: '0 8192 8192' },
  { device: 'rt-snap', type: 'snapshot', length: 8192, params: '16/8192 16' },
  { device: 'rt-str', type: 'striped', length: 8192, params: '2 7:0 7:1 1 AA' },
  { device: 'rt-thin', type: 'thin', length: 32768, params: '0 -' },
  { device: 'rt-tsnap', type: 'thin', length: 32768, params: '0 -' },
  // Debian 5.10 (dm 4.43)
  { device: 'rt-corig', type: 'cache', length: 8192, params: '8 9/1280 128 0/64 0 0 0 0 0 0 0 3 metadata2 writethrough no_discard_passdown 2 migration_threshold 2048 smq 0 rw - ', kernels: '5.10' },
  { device: 'rt-mir', type: 'mirror', length: 8192, params: '2 254:59 254:60 1/1 1 AA 1 core', kernels: '5.10' },
  { device: 'rt-pool-tpool', type: 'thin-pool', length: 8192, params: '2 61/512 0/128 - rw no_discard_passdown queue_if_no_space - 128 ', kernels: '5.10' },
  { device: 'rt-r6', type: 'raid', length: 8192, params: 'raid6_zr 5 AAAAA 2048/2048 idle 0 0 -', kernels: '5.10' },
  { device: 'rt-worig', type: 'writecache', length: 8192, params: '0 1020 1020 0', kernels: '5.10' },
  { device: 'cluks2i_dif', type: 'integrity', length: 8192, params: '0 5872 -', kernels: '5.10' },
  { device: 'int', type: 'integrity', length: 8192, params: '0 15944 -', kernels: '5.10' },
  // newest (7.3, dm 4.50)
  { device: 'ver', type: 'verity', length: 8192, params: 'V 0', kernels: 'newest (7.3)' },
  { device: 'rt-worig', type: 'writecache', length: 8192, params: '0 1020 1020 0 0 0 0 0 0 0 0 0 0 0', kernels: 'newest (7.3)' },
];
