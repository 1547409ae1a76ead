import type { UserInfo } from '../audit/types.js';
import { CREDENTIAL_ID, identityOf, type Identity } from './identity.js';
import { splitUser, tokenRow } from './userParts.js';

/** One distinct UserInfo: its JSON (as received), its username and the identity it names. */
export interface Principal {
  readonly json: string;
  readonly username: string;
  readonly identity: Identity;
  /** How it is stored: its stable part, and its token's own values apart (userParts.ts) when split. */
  readonly stored: StoredPrincipal;
}

export interface StoredPrincipal {
  json: string;
  token: { json: string; credentialId: string | null } | null;
}

/** The principals of one event: who holds the credential, and whom it impersonates. */
export interface EventPrincipals {
  actor: Principal;
  impersonated: Principal | null;
}

/**
 * The principals of a stream of events, each computed once. Distinct UserInfos are few next to
 * the events that carry them, so this spares serializing every event's user and judging its
 * identity again: a user is found by its credential id (or else its username), then compared
 * field by field with the few cached under it; past those few, by its JSON. Bounded: past
 * `maxEntries` it starts afresh.
 */
export class PrincipalCache {
  private readonly byCredential = new Map<string, Entry[]>();
  private readonly byUsername = new Map<string, Entry[]>();
  private readonly byJson = new Map<string, Principal>();
  private size = 0;

  /** `splitTokens`: store each token's own values apart from the user (userParts.ts). */
  constructor(private readonly maxEntries = 4_096, private readonly splitTokens = false) {}

  of(user: UserInfo): Principal {
    const credential = user.extra?.[CREDENTIAL_ID]?.[0];
    const [map, key] = typeof credential === 'string' ? [this.byCredential, credential] : [this.byUsername, user.username ?? ''];
    const entries = map.get(key);
    if (entries) for (const e of entries) if (sameJson(e.user, user)) return e.principal;
    const json = JSON.stringify(user);
    const known = this.byJson.get(json);
    if (known) return known;

    if (this.size >= this.maxEntries) {
      for (const m of [this.byCredential, this.byUsername, this.byJson]) m.clear();
      this.size = 0;
    }
    this.size++;
    // Kept as parsed from its own JSON, so that later changes to the caller's object cannot alter it.
    const own = JSON.parse(json) as UserInfo;
    const principal: Principal = { json, username: user.username ?? '', identity: identityOf(own), stored: this.storedForm(json, own) };
    const list = map.get(key);
    if (!list) map.set(key, [{ user: own, principal }]);
    else if (list.length < COMPARED_PER_KEY) list.push({ user: own, principal });
    else this.byJson.set(json, principal);
    return principal;
  }

  private storedForm(json: string, user: UserInfo): StoredPrincipal {
    if (!this.splitTokens) return { json, token: null };
    const parts = splitUser(user);
    if (!parts.token) return { json, token: null };
    return { json: JSON.stringify(parts.stable), token: tokenRow(parts) };
  }
}

interface Entry {
  user: UserInfo;
  principal: Principal;
}

/** Users compared field by field under one credential id or username, before their JSON is. */
const COMPARED_PER_KEY = 8;

/**
 * True when JSON.stringify would give the same text for both: the same keys in the same order
 * (keys whose value is undefined do not count), the same values. For JSON data.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  // Parsed JSON has no undefined or function values: then the own keys are what counts, in order.
  const ka = Object.keys(oa);
  const kb = Object.keys(ob);
  if (ka.length === kb.length) {
    let plain = true;
    for (let i = 0; i < ka.length; i++) {
      const k = ka[i]!;
      const va = oa[k];
      const vb = ob[kb[i]!];
      if (va === undefined || vb === undefined || typeof va === 'function' || typeof vb === 'function') {
        plain = false;
        break;
      }
      if (k !== kb[i] || !sameJson(va, vb)) return false;
    }
    if (plain) return true;
  }
  const da = definedKeys(oa);
  const db = definedKeys(ob);
  if (da.length !== db.length) return false;
  for (let i = 0; i < da.length; i++) {
    const k = da[i]!;
    if (k !== db[i] || !sameJson(oa[k], ob[k])) return false;
  }
  return true;
}

function definedKeys(o: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k in o) if (o[k] !== undefined && typeof o[k] !== 'function') keys.push(k);
  return keys;
}
