import type { UserInfo } from '../audit/types.js';
import { CREDENTIAL_ID, NODE_NAME, POD_NAME } from './identity.js';
import type { IdentityRule } from './identityMap.js';

/**
 * A user split into what stays the same from token to token and what each token brings. A
 * bound service-account token carries its credential id, and the pod and node it is bound to,
 * in `extra`: with short-lived tokens (job pods, CI runners) nearly every request brings a new
 * user, and storing each whole made one principal per token. The stable part (username, uid,
 * groups, the other extras) is stored once; the per-token values apart, in a small row each.
 *
 * The stable part keeps each moved key where it was, its value replaced by a placeholder that
 * keeps what identityOf reads from it (a credential id's scheme, `JTI=`; a bound pod's being
 * there), so that every user sharing a stable part is the same identity, and `joinUser` gives
 * back the user exactly, key order included.
 */

/** Extras that change with every token (spec/k8s-audit.md: bound service-account tokens), all under one prefix. */
const TOKEN_PREFIX = 'authentication.kubernetes.io/';
export const PER_TOKEN_EXTRAS: ReadonlySet<string> = new Set([
  CREDENTIAL_ID,
  POD_NAME,
  `${TOKEN_PREFIX}pod-uid`,
  NODE_NAME,
  `${TOKEN_PREFIX}node-uid`,
]);

export interface UserParts {
  /** The user with the per-token values replaced by placeholders. */
  stable: UserInfo;
  /** The values moved out, by key, in the user's order; null when none was. */
  token: Record<string, [string]> | null;
  /** The token's credential id (JTI=…), when it was moved. */
  credentialId: string | null;
}

/**
 * Splits a user. Only a token's own values move: a credential id of a token (`JTI=…`, not a
 * certificate's fingerprint, which lasts), and pod and node values, each a single non-empty
 * string as the apiserver writes them; anything else stays in the stable part as it came.
 */
export function splitUser(user: UserInfo): UserParts {
  const extra = user.extra;
  if (!extra || typeof extra !== 'object') return { stable: user, token: null, credentialId: null };
  let token: Record<string, [string]> | null = null;
  let stableExtra: Record<string, unknown> | null = null;
  for (const key of Object.keys(extra)) {
    if (!PER_TOKEN_EXTRAS.has(key)) continue;
    const value = (extra as Record<string, unknown>)[key];
    if (!Array.isArray(value) || value.length !== 1 || typeof value[0] !== 'string' || value[0] === '') continue;
    if (key === CREDENTIAL_ID && !value[0].startsWith('JTI=')) continue;
    token ??= {};
    token[key] = [value[0]];
    stableExtra ??= { ...extra };
    stableExtra[key] = [placeholder(value[0])];
  }
  if (!token) return { stable: user, token: null, credentialId: null };
  return { stable: { ...user, extra: stableExtra as UserInfo['extra'] }, token, credentialId: token[CREDENTIAL_ID]?.[0] ?? null };
}

/**
 * A token's values as stored: its credential id apart (a column of its own, to be found by),
 * the others as `{"pod-name": "…", …}`, the key's common prefix and the one-value array left out.
 */
export function tokenRow(parts: UserParts): { json: string; credentialId: string | null } {
  const short: Record<string, string> = {};
  for (const [key, [value]] of Object.entries(parts.token ?? {})) if (key !== CREDENTIAL_ID) short[key.slice(TOKEN_PREFIX.length)] = value;
  return { json: JSON.stringify(short), credentialId: parts.credentialId };
}

/** The user (as JSON) a stable part was split from, given its token's row (tokenRow). */
export function joinUser(stableJson: string, token: { json: string; credentialId: string | null } | null): string {
  if (token === null) return stableJson;
  const user = JSON.parse(stableJson) as { extra?: Record<string, unknown> };
  const extra = user.extra;
  if (!extra || typeof extra !== 'object') return stableJson;
  const values = JSON.parse(token.json) as Record<string, string>;
  if (token.credentialId !== null) values[CREDENTIAL_ID.slice(TOKEN_PREFIX.length)] = token.credentialId;
  for (const [short, value] of Object.entries(values)) {
    const key = TOKEN_PREFIX + short;
    if (PER_TOKEN_EXTRAS.has(key) && Object.prototype.hasOwnProperty.call(extra, key)) extra[key] = [value];
  }
  return JSON.stringify(user);
}

/** Whether a credential value read from a stable part is a placeholder, not a token's own value. */
export function isPlaceholder(value: string | undefined): boolean {
  return value !== undefined && value === placeholder(value);
}

/** What a moved value leaves behind: its scheme (`JTI=`), then `*`, which no token value is. */
function placeholder(value: string): string {
  return `${value.slice(0, value.indexOf('=') + 1)}*`;
}

/**
 * Whether the identity map can tell two tokens of one user apart: a rule on a credential id
 * that a token's (`JTI=…`) may match. Then each token's user is kept whole, so that the rule
 * still attributes each one.
 */
export function identityMapReadsTokens(rules: readonly IdentityRule[]): boolean {
  return rules.some((r) => r.match.credentialId !== undefined && mayMatchToken(r.match.credentialId));
}

function mayMatchToken(pattern: string): boolean {
  const literal = pattern.split('*')[0]!;
  return 'JTI='.startsWith(literal) || literal.startsWith('JTI=');
}
