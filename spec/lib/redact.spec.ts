import { describe, expect, test } from '@jest/globals';
import { redactTableParams } from '../../lib/index.js';

describe('redactTableParams (dmsetup masking)', () => {
  test('crypt: the hex key becomes zeros of the same length', () => {
    expect(redactTableParams('crypt', 'aes-xts-plain64 0123abcdef 0 7:0 0 1 allow_discards'))
      .toBe('aes-xts-plain64 0000000000 0 7:0 0 1 allow_discards');
  });
  test('crypt: keyring references are kept', () => {
    const p = 'aes-xts-plain64 :64:logon:cryptsetup:abc 0 7:0 0';
    expect(redactTableParams('crypt', p)).toBe(p);
  });
  test('integrity: internal_hash / journal_crypt / journal_mac keys', () => {
    expect(redactTableParams('integrity', '7:0 0 32 J 3 internal_hash:hmac(sha256):abcd journal_crypt:ctr(aes):1234 journal_sectors:88'))
      .toBe('7:0 0 32 J 3 internal_hash:hmac(sha256):0000 journal_crypt:ctr(aes):0000 journal_sectors:88');
    expect(redactTableParams('integrity', '7:0 0 32 J 1 internal_hash:crc32c')).toBe('7:0 0 32 J 1 internal_hash:crc32c');
  });
  test('other targets are untouched', () => {
    expect(redactTableParams('linear', '7:0 0')).toBe('7:0 0');
  });
});
