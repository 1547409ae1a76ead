import type { Database } from 'better-sqlite3';
import { formatMicroTime } from '../audit/time.js';
import { DECISIONS } from './eventRecord.js';

/** One identity seen in the store: `kubetrail identities` and the API. */
export interface IdentityRow {
  /** The EKS caller ARN, else the username. */
  identity: string;
  kind: string;
  /** The usernames it acted as (an EKS ARN may map to a shared one such as kubernetes-admin). */
  usernames: string[];
  person: string | null;
  team: string | null;
  /** Credential kinds used, and the ids of those that have one (X509SHA256=…, JTI=…). */
  credentialKinds: string[];
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

export const IDENTITY_COLUMNS: (keyof IdentityRow)[] = [
  'identity', 'kind', 'person', 'team', 'usernames', 'credentialKinds', 'credentialIds', 'firstSeen', 'lastSeen', 'actions', 'denied', 'findings', 'tokensMintedBy',
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
  const minters = db.prepare(`SELECT DISTINCT p.username FROM issued_credentials ic
    JOIN events e ON e.id = ic.event_id JOIN principals p ON p.id = e.user_id
    WHERE ic.credential_id IN (SELECT value FROM json_each(?)) ORDER BY p.username`).pluck();
  // The credential ids of the principals: a user stored whole has its own, a user stored split
  // one per token (identity/userParts.ts), listed whatever the range.
  const credentials = db.prepare(`SELECT credential_id FROM identities WHERE principal_id IN (SELECT value FROM json_each(?)) AND credential_id IS NOT NULL
    UNION SELECT credential_id FROM user_tokens WHERE principal_id IN (SELECT value FROM json_each(?)) AND credential_id IS NOT NULL`).pluck();
  const findings = db.prepare('SELECT rule, sum(count) AS n FROM alerts WHERE identity = ? AND person IS ? GROUP BY rule ORDER BY rule');
  // The rows first: a statement cannot run while another one's rows are being read.
  for (const r of [...rows]) {
    const credentialIds = credentials.all(r.principal_ids, r.principal_ids) as string[];
    yield {
      identity: r.identity,
      kind: r.kind,
      usernames: JSON.parse(r.usernames) as string[],
      person: r.person,
      team: r.team,
      credentialKinds: JSON.parse(r.credential_kinds) as string[],
      credentialIds,
      firstSeen: formatMicroTime(r.first_seen),
      lastSeen: formatMicroTime(r.last_seen),
      actions: r.actions,
      denied: r.denied,
      findings: Object.fromEntries((findings.all(r.identity, r.person) as { rule: string; n: number }[]).map((f) => [f.rule, f.n])),
      tokensMintedBy: credentialIds.length > 0 ? (minters.all(JSON.stringify(credentialIds)) as string[]) : [],
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
