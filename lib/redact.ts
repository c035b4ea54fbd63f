/**
 * Key redaction for table text, as dmsetup does it: unless asked (`showKeys`), the key of a
 * crypt target and the keys of integrity's internal_hash / journal_crypt / journal_mac
 * arguments are replaced by '0' characters of the same length. Keyring references
 * (`:<size>:<type>:<desc>`) are not secret and are kept.
 */
export function redactTableParams(type: string, params: string): string {
  if (type === 'crypt') {
    const m = /^(\s*\S+\s+)(\S+)(.*)$/s.exec(params);
    if (!m || m[2]!.startsWith(':')) return params;
    return m[1]! + '0'.repeat(m[2]!.length) + m[3]!;
  }
  if (type === 'integrity') {
    return params.replace(/(^|\s)(internal_hash|journal_crypt|journal_mac):([^:\s]+):(\S+)/g,
      (_all, sp: string, what: string, alg: string, key: string) => `${sp}${what}:${alg}:${'0'.repeat(key.length)}`);
  }
  return params;
}
