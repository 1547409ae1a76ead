import type { Database } from 'better-sqlite3';

/** A range of stored events counted in buckets (microseconds). */
export interface ActivityFilter {
  since: number;
  until: number;
  bucketMicros: number;
  cluster?: string;
}

/** One bucket of one cluster: stored events, those denied, those the apiserver answered with a 5xx. */
export interface ActivityBucket {
  /** The bucket's start, microseconds. */
  start: number;
  events: number;
  denied: number;
  serverErrors: number;
}

export interface ClusterActivity {
  cluster: string;
  buckets: ActivityBucket[];
}

/** The buckets of a range, at most this many: their size follows the range. */
export const MAX_ACTIVITY_BUCKETS = 360;

/** A bucket size for a range: whole minutes, so that at most MAX_ACTIVITY_BUCKETS fill it. */
export function activityBucketMicros(since: number, until: number): number {
  const minute = 60e6;
  return Math.max(1, Math.ceil((until - since) / MAX_ACTIVITY_BUCKETS / minute)) * minute;
}

/** The SQL both engines run (`p(i)`: the engine's i-th parameter: since, until, bucket, cluster). */
export function activitySql(p: (i: number) => string, byCluster: boolean): string {
  // Whole buckets on either engine (SQLite binds a JS number as a real).
  return `SELECT c.value AS cluster, CAST((e.received_at - ${p(1)}) / ${p(3)} AS BIGINT) AS b, count(*) AS events,
      sum(CASE WHEN e.decision = 2 THEN 1 ELSE 0 END) AS denied,
      sum(CASE WHEN e.code >= 500 THEN 1 ELSE 0 END) AS errors
    FROM events e JOIN strings c ON c.id = e.cluster_id
    WHERE e.received_at >= ${p(1)} AND e.received_at < ${p(2)}${byCluster ? ` AND c.value = ${p(4)}` : ''}
    GROUP BY c.value, b ORDER BY c.value, b`;
}

/** Rows of activitySql as each cluster's buckets, every bucket of the range present (zeros where nothing was stored). */
export function activityOf(rows: Record<string, unknown>[], f: ActivityFilter): ClusterActivity[] {
  const n = Math.max(1, Math.ceil((f.until - f.since) / f.bucketMicros));
  const byCluster = new Map<string, ActivityBucket[]>();
  for (const r of rows) {
    const cluster = String(r.cluster);
    let buckets = byCluster.get(cluster);
    if (!buckets) byCluster.set(cluster, (buckets = Array.from({ length: n }, (_, i) => ({ start: f.since + i * f.bucketMicros, events: 0, denied: 0, serverErrors: 0 }))));
    const b = buckets[Number(r.b)];
    if (!b) continue;
    b.events = Number(r.events);
    b.denied = Number(r.denied ?? 0);
    b.serverErrors = Number(r.errors ?? 0);
  }
  return [...byCluster].map(([cluster, buckets]) => ({ cluster, buckets }));
}

export function queryActivity(db: Database, f: ActivityFilter): ClusterActivity[] {
  const params = { p1: f.since, p2: f.until, p3: f.bucketMicros, ...(f.cluster !== undefined ? { p4: f.cluster } : {}) };
  return activityOf(db.prepare(activitySql((i) => `@p${i}`, f.cluster !== undefined)).all(params) as Record<string, unknown>[], f);
}
