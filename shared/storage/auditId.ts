/**
 * auditIDs are stored compactly: a lower-case UUID (what the apiserver generates) as its 16
 * bytes, anything else (a client-set Audit-ID header) as text. SQLite never compares a BLOB
 * equal to a TEXT, so the two forms cannot collide.
 */

/** Value of a lower-case hex digit, else -1. */
function hexDigit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
}

/**
 * The stored form of an auditID. Decoded by hand (it runs for every event, on the writer
 * thread): a regular expression and a hex decode of a copy cost several times as much.
 */
export function auditIdToKey(auditID: string): Buffer | string {
  if (auditID.length !== 36) return auditID;
  const out = Buffer.allocUnsafe(16);
  let o = 0;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (auditID.charCodeAt(i) !== 45) return auditID;
      i--;
      continue;
    }
    const hi = hexDigit(auditID.charCodeAt(i));
    const lo = hexDigit(auditID.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return auditID;
    out[o++] = hi * 16 + lo;
  }
  return out;
}

/** The auditID a stored key holds. */
export function keyToAuditId(key: Buffer | Uint8Array | string): string {
  if (typeof key === 'string') return key;
  const hex = Buffer.from(key).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
