/**
 * auditIDs are stored compactly: a lower-case UUID (what the apiserver generates) as its 16
 * bytes, anything else (a client-set Audit-ID header) as text. SQLite never compares a BLOB
 * equal to a TEXT, so the two forms cannot collide.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The stored form of an auditID. */
export function auditIdToKey(auditID: string): Buffer | string {
  return UUID.test(auditID) ? Buffer.from(auditID.replace(/-/g, ''), 'hex') : auditID;
}

/** The auditID a stored key holds. */
export function keyToAuditId(key: Buffer | Uint8Array | string): string {
  if (typeof key === 'string') return key;
  const hex = Buffer.from(key).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
