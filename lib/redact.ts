/**
 * Key redaction for table text, as dmsetup does it: unless asked (`showKeys`), the key of a
 * crypt target and the keys of integrity's internal_hash / journal_crypt / journal_mac
 * arguments are replaced by '0' characters of the same length. Keyring references
 * (`:<size>:<type>:<desc>`) are not secret and are kept. The rule lives in the codec
 * (codec/secrets.ts) so that codec errors, the client and dmctl share it.
 */
export { redactTableParams, describeParams, scrubLogLines, carriesKeys, tableCarriesKeys, KEY_CARRYING_TARGETS } from '../codec/secrets.js';
