import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Who may read what of the store through the query API (PRODUCT.md, HTTP): each role has
 * everything of the ones before it.
 *   viewer   events and identities (metadata), object history, ingest status
 *   analyst  + request/response bodies, alerts, exports, break-glass checkouts, quarantine
 *   admin    + RBAC reports and recommendations, kubetrail's own audit trail
 */
export const ROLES = ['viewer', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** An API token as the configuration holds it: never the token, only its SHA-256. */
export interface ApiToken {
  name: string;
  role: Role;
  sha256: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token (256 bits, base64url) and the hash to put in the configuration. */
export function newToken(): { token: string; sha256: string } {
  const token = `kt_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: hashToken(token) };
}

/** The configured token a bearer token is, or null; compares hashes in constant time. */
export function findToken(tokens: readonly ApiToken[], presented: string): ApiToken | null {
  const h = Buffer.from(hashToken(presented), 'hex');
  let found: ApiToken | null = null;
  for (const t of tokens) if (timingSafeEqual(h, Buffer.from(t.sha256, 'hex')) && found === null) found = t;
  return found;
}
