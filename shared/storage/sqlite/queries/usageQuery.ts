import type { Database } from 'better-sqlite3';
import type { ObservedDecision, UsageRecord } from '../../../rbac/usageAnalysis.js';
import type { UserAttributes } from '../../../rbac/types.js';
import { keyToAuditId } from '../../auditId.js';
import { dayOf } from '../tables/usageRollups.js';

/** Which rollups to read: one cluster, whole UTC days from `since` up to `until` (microseconds). */
export interface UsageFilter {
  cluster: string;
  since: number;
  until: number;
  /** Only requests in this namespace (cluster-scoped ones still count: ClusterRoleBindings grant them). */
  namespace?: string;
}

const DECISIONS: ObservedDecision[] = ['unknown', 'allow', 'forbid'];

/** A row of a window's summed rollups, as either store gives it (PostgreSQL's bigints as text). */
export interface UsageRow {
  username: string;
  groups: string;
  verb: string;
  api_group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
  decision: number;
  reason: string | null;
  synthetic: number;
  count: number | string;
  first_at: number | string;
  last_at: number | string;
  first: string;
  last: string;
}

/**
 * A summed row as a record of its subject (one object per distinct username and groups, kept in
 * `users`), with the window's first and last request as samples: `auditIdOf` reads the auditID
 * out of the engine's sortable first/last text.
 */
export function usageRecord(r: UsageRow, users: Map<string, UserAttributes>, auditIdOf: (timed: string) => string): { user: UserAttributes; record: UsageRecord } {
  const key = `${r.username}\u0000${r.groups}`;
  let user = users.get(key);
  if (!user) users.set(key, (user = { name: r.username, groups: JSON.parse(r.groups) as string[] }));
  const attrs = r.resource === '' && r.path !== ''
    ? { user, verb: r.verb, resourceRequest: false as const, path: r.path }
    : { user, verb: r.verb, resourceRequest: true as const, apiGroup: r.api_group, resource: r.resource, subresource: r.subresource, namespace: r.namespace, name: r.name };
  const samples = [auditIdOf(r.first)];
  const last = auditIdOf(r.last);
  if (last !== samples[0]) samples.push(last);
  return {
    user,
    record: { attrs, decision: DECISIONS[r.decision] ?? 'unknown', reason: r.reason, synthetic: r.synthetic === 1, count: Number(r.count), firstAt: Number(r.first_at), lastAt: Number(r.last_at), samples },
  };
}

/**
 * A day's first or last request as text that sorts by its time: the time in 20 digits, then
 * the auditID's key (b + hex of a UUID's 16 bytes, else t + the auditID as received).
 */
const timedKey = (at: string, key: string) => `printf('%020d', ${at}) || iif(typeof(${key}) = 'blob', 'b' || hex(${key}), 't' || ${key})`;

/** The auditID of a timedKey. */
function auditIdOf(timed: string): string {
  const key = timed.slice(21);
  return timed[20] === 'b' ? keyToAuditId(Buffer.from(key, 'hex')) : key;
}

/**
 * The usage of a window, summed over its days: one record per subject, request, decision and
 * reason, with the window's first and last request of each as samples. Subjects come back as
 * one object per distinct (username, groups).
 */
export function* readUsage(db: Database, f: UsageFilter): IterableIterator<{ user: UserAttributes; record: UsageRecord }> {
  const cluster = db.prepare('SELECT id FROM strings WHERE value = ?').pluck().get(f.cluster) as number | undefined;
  if (cluster === undefined) return;
  const rows = db
    // Sum on the integer columns first (a small sort), then name the subjects, requests and
    // reasons. A group's bare auditID columns would come from any one of its days: the first
    // and last are taken with their time instead.
    .prepare(`SELECT s.username, s.groups, a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name, a.path,
        u.decision, r.value AS reason, u.synthetic, u.count, u.first_at, u.last_at, u.first, u.last
      FROM (SELECT subject_id, atom_id, decision, reason_id, synthetic, sum(count) AS count, min(first_at) AS first_at,
              max(last_at) AS last_at, min(${timedKey('first_at', 'first_audit')}) AS first, max(${timedKey('last_at', 'last_audit')}) AS last
            FROM usage_daily
            WHERE day >= ? AND day <= ? AND cluster_id = ?
            GROUP BY subject_id, atom_id, decision, reason_id, synthetic) u
      JOIN rbac_subjects s ON s.id = u.subject_id
      JOIN usage_atoms a ON a.id = u.atom_id
      LEFT JOIN strings r ON r.id = u.reason_id
      ${f.namespace === undefined ? '' : "WHERE a.namespace IN (?, '')"}`)
    .iterate(dayOf(f.since), dayOf(f.until - 1), cluster, ...(f.namespace === undefined ? [] : [f.namespace])) as IterableIterator<UsageRow>;
  const users = new Map<string, UserAttributes>();
  for (const r of rows) yield usageRecord(r, users, auditIdOf);
}

/** How many days of the window hold any stored activity of the cluster. */
export function usageDaysCovered(db: Database, f: Omit<UsageFilter, 'namespace'>): number {
  return db
    .prepare('SELECT count(DISTINCT u.day) FROM usage_daily u JOIN strings c ON c.id = u.cluster_id WHERE c.value = ? AND u.day >= ? AND u.day <= ?')
    .pluck()
    .get(f.cluster, dayOf(f.since), dayOf(f.until - 1)) as number;
}

/**
 * Each username's last request in the cluster (microseconds), from the daily rollups, which
 * outlive the raw events (retention keeps them); and the first day the rollups hold.
 */
export function accountHistory(db: Database, cluster: string): { lastSeen: Map<string, number>; historyFrom: number | null } {
  const clusterId = db.prepare('SELECT id FROM strings WHERE value = ?').pluck().get(cluster) as number | undefined;
  if (clusterId === undefined) return { lastSeen: new Map(), historyFrom: null };
  const rows = db
    .prepare('SELECT s.username AS name, max(u.last_at) AS last FROM usage_daily u JOIN rbac_subjects s ON s.id = u.subject_id WHERE u.cluster_id = ? GROUP BY s.username')
    .all(clusterId) as { name: string; last: number }[];
  const first = db.prepare('SELECT min(day) FROM usage_daily WHERE cluster_id = ?').pluck().get(clusterId) as number | null;
  return { lastSeen: new Map(rows.map((r) => [r.name, r.last])), historyFrom: first === null ? null : first * 86_400_000_000 };
}
