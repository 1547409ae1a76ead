import type { Database } from 'better-sqlite3';
import { formatMicroTime } from '../../../audit/time.js';
import { DECISIONS } from '../../eventRecord.js';

/** One identity seen in the store: `kubetrail identities` and the API. */
export interface IdentityRow {
  /** The EKS caller ARN, else the username. */
  identity: string;
  kind: string;
  /** The usernames it acted as (an EKS ARN may map to a shared one such as kubernetes-admin). */
  usernames: string[];
  person: string | null;
  team: string | null;
  /**
   * Credential kinds used; how many credentials that have an id (X509SHA256=…, JTI=…) it used,
   * and the newest of those ids (at most CREDENTIAL_IDS_LISTED: short-lived tokens are thousands).
   */
  credentialKinds: string[];
  credentialCount: number;
  credentialIds: string[];
  firstSeen: string;
  lastSeen: string;
  /** Requests (distinct auditIDs), and those denied. */
  actions: number;
  denied: number;
  /** Alerts about this identity, by rule: requests counted. */
  findings: Record<string, number>;
  /** Who requested (TokenRequest) the tokens it used, when the store saw the minting. */
  tokensMintedBy: string[];
}

/** The most credential ids an identity row lists, newest first. */
export const CREDENTIAL_IDS_LISTED = 20;

export const IDENTITY_COLUMNS: (keyof IdentityRow)[] = [
  'identity', 'kind', 'person', 'team', 'usernames', 'credentialKinds', 'credentialCount', 'credentialIds', 'firstSeen', 'lastSeen', 'actions', 'denied', 'findings', 'tokensMintedBy',
];

/**
 * Every identity that acted, one row per identity and person (a shared account used with
 * two people's certificates is two rows), most active first. Read from the requests kept per
 * principal and hour as events are stored (principal_activity), not from the events: a range
 * is taken in whole hours, as the timeline's, and days archived by retention still count.
 */
export function* queryIdentities(db: Database, options: { since?: number; until?: number; identity?: string } = {}): IterableIterator<IdentityRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (options.identity !== undefined) {
    where.push('principal_id IN (SELECT principal_id FROM identities WHERE identity_key = ?)');
    params.push(options.identity);
  }
  if (options.since !== undefined) where.push('hour >= ?') && params.push(Math.floor(options.since / TIMELINE_BUCKETS.hour));
  if (options.until !== undefined) where.push('hour < ?') && params.push(Math.ceil(options.until / TIMELINE_BUCKETS.hour));
  const rows = db
    .prepare(
      `SELECT i.identity_key AS identity, i.kind, i.person, max(i.team) AS team,
         json_group_array(DISTINCT p.username) AS usernames,
         json_group_array(DISTINCT i.credential_kind) AS credential_kinds,
         json_group_array(DISTINCT i.principal_id) AS principal_ids,
         min(a.first_at) AS first_seen, max(a.last_at) AS last_seen,
         sum(a.actions) AS actions, sum(a.denied) AS denied
       FROM (SELECT principal_id, sum(actions) AS actions, sum(denied) AS denied, min(first_at) AS first_at, max(last_at) AS last_at
             FROM principal_activity ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY principal_id) a
       JOIN identities i ON i.principal_id = a.principal_id
       JOIN principals p ON p.id = a.principal_id
       GROUP BY i.identity_key, i.kind, i.person
       ORDER BY actions DESC, identity`,
    )
    .iterate(...params) as IterableIterator<{
    identity: string;
    kind: string;
    person: string | null;
    team: string | null;
    usernames: string;
    credential_kinds: string;
    principal_ids: string;
    first_seen: number;
    last_seen: number;
    actions: number;
    denied: number;
  }>;
  const principalsIn = 'principal_id IN (SELECT value FROM json_each(?))';
  // Kept as credentials are issued and used (credentialMinters.ts), whatever the range.
  const minters = db.prepare(`SELECT DISTINCT p.username FROM credential_minters m JOIN principals p ON p.id = m.minter_id
    WHERE m.${principalsIn} ORDER BY p.username`).pluck();
  // A user stored split has one credential id per token row (identity/userParts.ts), a user
  // stored whole its own: counted (one row per token: its id and values come together), and
  // the newest listed, whatever the range, each principal read in the order of its index.
  const countTokens = db.prepare('SELECT count(*) FROM user_tokens WHERE principal_id = ? AND credential_id IS NOT NULL').pluck();
  const newestTokens = db.prepare(`SELECT id, credential_id FROM user_tokens WHERE principal_id = ? AND credential_id IS NOT NULL ORDER BY id DESC LIMIT ${CREDENTIAL_IDS_LISTED}`).raw();
  // A user stored whole before its tokens were split may carry the id of a token stored split since.
  const wholeCredentials = db.prepare(`SELECT credential_id FROM identities i WHERE i.${principalsIn} AND i.credential_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM user_tokens t WHERE t.credential_id = i.credential_id) ORDER BY i.principal_id DESC`).pluck();
  const credentialsOf = (principalIds: number[], principalIdsJson: string) => {
    const tokens = principalIds.flatMap((p) => newestTokens.all(p) as [number, string][]).sort((a, b) => b[0] - a[0]);
    const whole = wholeCredentials.all(principalIdsJson) as string[];
    return {
      count: principalIds.reduce((n, p) => n + (countTokens.get(p) as number), 0) + whole.length,
      newest: [...tokens.map((t) => t[1]), ...whole].slice(0, CREDENTIAL_IDS_LISTED),
    };
  };
  const findings = db.prepare('SELECT rule, sum(count) AS n FROM alerts WHERE identity = ? AND person IS ? GROUP BY rule ORDER BY rule');
  // The rows first: a statement cannot run while another one's rows are being read.
  for (const r of [...rows]) {
    const credentials = credentialsOf(JSON.parse(r.principal_ids) as number[], r.principal_ids);
    yield {
      identity: r.identity,
      kind: r.kind,
      usernames: JSON.parse(r.usernames) as string[],
      person: r.person,
      team: r.team,
      credentialKinds: JSON.parse(r.credential_kinds) as string[],
      credentialCount: credentials.count,
      credentialIds: credentials.newest,
      firstSeen: formatMicroTime(r.first_seen),
      lastSeen: formatMicroTime(r.last_seen),
      actions: r.actions,
      denied: r.denied,
      findings: Object.fromEntries((findings.all(r.identity, r.person) as { rule: string; n: number }[]).map((f) => [f.rule, f.n])),
      tokensMintedBy: minters.all(r.principal_ids) as string[],
    };
  }
}

export const TIMELINE_BUCKETS = { hour: 3_600_000_000, day: 86_400_000_000 } as const;

/** One bucket of an identity's timeline: actions by verb and decision. */
export interface TimelineRow {
  start: string;
  verb: string;
  decision: 'allow' | 'forbid' | 'unknown';
  actions: number;
}

/**
 * An identity's actions per hour or day (UTC), by verb and decision, oldest first, from the
 * hourly activity rollups (the range is taken in whole hours).
 */
export function identityTimeline(db: Database, identity: string, bucket: keyof typeof TIMELINE_BUCKETS, range: { since?: number; until?: number } = {}): TimelineRow[] {
  const hours = TIMELINE_BUCKETS[bucket] / TIMELINE_BUCKETS.hour;
  const where = ['a.principal_id IN (SELECT principal_id FROM identities WHERE identity_key = ?)'];
  const params: unknown[] = [identity];
  if (range.since !== undefined) where.push('a.hour >= ?') && params.push(Math.floor(range.since / TIMELINE_BUCKETS.hour));
  if (range.until !== undefined) where.push('a.hour < ?') && params.push(Math.ceil(range.until / TIMELINE_BUCKETS.hour));
  const rows = db
    .prepare(
      `SELECT (a.hour / ${hours}) * ${hours} AS start, v.verb, a.decision, sum(a.count) AS actions
       FROM activity_hourly a JOIN verbs v ON v.id = a.verb_id
       WHERE ${where.join(' AND ')}
       GROUP BY start, v.verb, a.decision ORDER BY start, v.verb, a.decision`,
    )
    .all(...params) as { start: number; verb: string; decision: number; actions: number }[];
  return rows.map((r) => ({ start: formatMicroTime(r.start * TIMELINE_BUCKETS.hour), verb: r.verb, decision: DECISIONS[r.decision] ?? 'unknown', actions: r.actions }));
}
