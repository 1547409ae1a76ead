import type pg from 'pg';
import { formatMicroTime } from '../../audit/time.js';
import { identityOfStored, type Identity } from '../../identity/identity.js';
import { isPlaceholder } from '../../identity/userParts.js';
import type { Attribution } from '../../identity/identityMap.js';
import { DECISIONS } from '../eventRecord.js';
import type { IdentityReads, Rows } from '../port.js';
import { CREDENTIAL_IDS_LISTED, TIMELINE_BUCKETS, type IdentityRow } from '../sqlite/queries/identityQuery.js';

/** Only the most complete stage of each action: an action counts once. */
const ACTION = `NOT EXISTS (SELECT 1 FROM events b
  WHERE b.received_at = e.received_at AND b.cluster_id = e.cluster_id AND b.audit_id = e.audit_id AND b.stage > e.stage)`;
const FORBID = DECISIONS.indexOf('forbid');

interface Principal {
  id: number;
  username: string;
  identity: Identity;
  attribution: Attribution;
}

/**
 * The principals whose identity (identity/identity.ts) passes `test`: what SQLite's identities
 * table answers, derived here (principals are few next to events: read whole).
 */
export async function principalsWhere(pool: pg.Pool, test: (i: Identity) => boolean): Promise<number[]> {
  const rows = (await pool.query<{ id: string; json: string }>('SELECT id, json FROM principals')).rows;
  return rows.filter((r) => test(identityOfStored(r.json))).map((r) => Number(r.id));
}

/**
 * Who acted, on PostgreSQL: the identities list and an identity's timeline, read from the events
 * themselves (each action once, by its most complete stage) rather than from rollups, so that
 * every writer's events count exactly; a long range without --since reads every event in it.
 * The identity, person and team of each principal are derived as SQLite's IdentityStore derives
 * them, with the identity map as it is now.
 */
export function pgIdentityReads(pool: pg.Pool, attribute: (i: Identity) => Attribution): IdentityReads {
  const principals = async (ids: number[]): Promise<Map<number, Principal>> => {
    const rows = (await pool.query<{ id: string; json: string; username: string }>('SELECT id, json, username FROM principals WHERE id = ANY($1::bigint[])', [ids])).rows;
    return new Map(
      rows.map((r) => {
        const identity = identityOfStored(r.json);
        return [Number(r.id), { id: Number(r.id), username: r.username, identity, attribution: attribute(identity) }];
      }),
    );
  };
  const principalsOf = (key: string) => principalsWhere(pool, (i) => i.key === key);
  const range = (where: string[], params: unknown[], r: { since?: number; until?: number }) => {
    if (r.since !== undefined) where.push(`e.received_at >= $${params.push(r.since)}`);
    if (r.until !== undefined) where.push(`e.received_at < $${params.push(r.until)}`);
  };

  async function* list(options: { since?: number; until?: number; identity?: string } = {}): Rows<IdentityRow> {
    const where = [ACTION];
    const params: unknown[] = [];
    if (options.identity !== undefined) where.push(`e.user_id = ANY($${params.push(await principalsOf(options.identity))}::bigint[])`);
    range(where, params, options);
    const activity = (
      await pool.query<{ user_id: string; actions: string; denied: string; first_at: string; last_at: string }>(
        `SELECT e.user_id, count(*) AS actions, count(*) FILTER (WHERE e.decision = ${FORBID}) AS denied, min(e.received_at) AS first_at, max(e.received_at) AS last_at
         FROM events e WHERE ${where.join(' AND ')} GROUP BY e.user_id`,
        params,
      )
    ).rows;
    const known = await principals(activity.map((a) => Number(a.user_id)));
    // One row per identity and person, as SQLite groups its identities.
    const groups = new Map<string, { identity: string; kind: string; person: string | null; team: string | null; principals: Principal[]; actions: number; denied: number; first: number; last: number }>();
    for (const a of activity) {
      const p = known.get(Number(a.user_id));
      if (!p) continue;
      const person = p.attribution.person ?? null;
      const key = JSON.stringify([p.identity.key, p.identity.kind, person]);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { identity: p.identity.key, kind: p.identity.kind, person, team: null, principals: [], actions: 0, denied: 0, first: Infinity, last: -Infinity }));
      g.principals.push(p);
      g.team = [g.team, p.attribution.team ?? null].filter((t): t is string => t !== null).sort().at(-1) ?? null;
      g.actions += Number(a.actions);
      g.denied += Number(a.denied);
      g.first = Math.min(g.first, Number(a.first_at));
      g.last = Math.max(g.last, Number(a.last_at));
    }
    const sorted = [...groups.values()].sort((x, y) => y.actions - x.actions || (x.identity < y.identity ? -1 : x.identity > y.identity ? 1 : 0));
    for (const g of sorted) {
      const ids = g.principals.map((p) => p.id);
      // Newest first; a user stored whole carries its credential in its own values.
      const tokenIds = (
        await pool.query<{ credential_id: string }>('SELECT credential_id FROM user_tokens WHERE principal_id = ANY($1::bigint[]) AND credential_id IS NOT NULL ORDER BY id DESC', [ids])
      ).rows.map((r) => r.credential_id);
      const onTokens = new Set(tokenIds);
      const whole = [...new Set(g.principals.map((p) => p.identity.credential.id).filter((c): c is string => c !== undefined && !isPlaceholder(c) && !onTokens.has(c)))];
      const credentials = [...tokenIds, ...whole];
      const findings = await pool.query<{ rule: string; n: string }>('SELECT rule, sum(count) AS n FROM alerts WHERE identity = $1 AND person IS NOT DISTINCT FROM $2 GROUP BY rule ORDER BY rule', [g.identity, g.person]);
      const minters = await pool.query<{ username: string }>(
        'SELECT DISTINCT p.username FROM issued_credentials ic JOIN principals p ON p.id = ic.minter_id WHERE ic.credential_id = ANY($1::text[]) ORDER BY p.username',
        [credentials],
      );
      yield {
        identity: g.identity,
        kind: g.kind,
        usernames: [...new Set(g.principals.map((p) => p.username))].sort(),
        person: g.person,
        team: g.team,
        credentialKinds: [...new Set(g.principals.map((p) => p.identity.credential.kind))].sort(),
        credentialCount: credentials.length,
        credentialIds: credentials.slice(0, CREDENTIAL_IDS_LISTED),
        firstSeen: formatMicroTime(g.first),
        lastSeen: formatMicroTime(g.last),
        actions: g.actions,
        denied: g.denied,
        findings: Object.fromEntries(findings.rows.map((f) => [f.rule, Number(f.n)])),
        tokensMintedBy: minters.rows.map((m) => m.username),
      };
    }
  }

  return {
    list,
    timeline: async (identity, bucket, r = {}) => {
      const where = [ACTION, 'e.user_id = ANY($1::bigint[])'];
      const params: unknown[] = [await principalsOf(identity)];
      range(where, params, r);
      const size = TIMELINE_BUCKETS[bucket];
      const rows = (
        await pool.query<{ start: string; verb: string; decision: number; actions: string }>(
          `SELECT floor(e.received_at / ${size})::bigint * ${size} AS start, v.verb, e.decision, count(*) AS actions
           FROM events e JOIN verbs v ON v.id = e.verb_id WHERE ${where.join(' AND ')}
           GROUP BY 1, v.verb, e.decision ORDER BY 1, v.verb, e.decision`,
          params,
        )
      ).rows;
      return rows.map((x) => ({ start: formatMicroTime(Number(x.start)), verb: x.verb, decision: DECISIONS[x.decision] ?? 'unknown', actions: Number(x.actions) }));
    },
  };
}
