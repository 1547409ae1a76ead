import type { Database } from 'better-sqlite3';
import { formatMicroTime } from '../../../audit/time.js';

/** What the store shows of one cluster's ingest. */
export interface ClusterIngest {
  cluster: string;
  /** requestReceivedTimestamp of the newest stored event. */
  lastEventTime: string | null;
  /** Events stored with a request time in the last `windowSeconds`, per second. */
  eventsPerSecond: number;
  quarantined: Record<string, number>;
}

/**
 * Per cluster: the newest event, the recent rate (by request time, so a backfill of old events
 * does not count), and quarantined input by source. Cheap on a large store: one index walk
 * per cluster and one range scan.
 */
export function clusterIngest(db: Database, nowMicros: number, windowSeconds = 300): ClusterIngest[] {
  // Every cluster that holds events, however old (cluster_spans, kept by the writer), and those
  // with quarantined input.
  const spans = db.prepare('SELECT c.value, s.cluster_id AS id, s.last_at FROM cluster_spans s JOIN strings c ON c.id = s.cluster_id').all() as { id: number; value: string; last_at: number }[];
  const lastOf = new Map(spans.map((r) => [r.id, r.last_at]));
  const byName = new Map(spans.map((r) => [r.value, r.id as number | undefined]));
  const clusterId = db.prepare('SELECT id FROM strings WHERE value = ?').pluck();
  for (const c of db.prepare('SELECT DISTINCT cluster FROM quarantine').pluck().all() as string[]) {
    if (!byName.has(c)) byName.set(c, clusterId.get(c) as number | undefined);
  }
  const recent = db.prepare('SELECT count(*) FROM events WHERE cluster_id = ? AND received_at >= ?').pluck();
  const quarantine = db.prepare('SELECT source, count(*) AS n FROM quarantine WHERE cluster = ? GROUP BY source ORDER BY source');
  return [...byName.keys()].sort().map((cluster) => {
    const id = byName.get(cluster);
    const last = id === undefined ? undefined : lastOf.get(id);
    const n = id === undefined ? 0 : (recent.get(id, nowMicros - windowSeconds * 1e6) as number);
    return {
      cluster,
      lastEventTime: last === undefined ? null : formatMicroTime(last),
      eventsPerSecond: Math.round((n / windowSeconds) * 100) / 100,
      quarantined: Object.fromEntries((quarantine.all(cluster) as { source: string; n: number }[]).map((q) => [q.source, q.n])),
    };
  });
}

/** One quarantined input, as the API lists it (the raw bytes as text, cut at `maxRawChars`). */
export interface QuarantineRow {
  id: number;
  time: string;
  source: string;
  cluster: string;
  position: string;
  reason: string;
  rawSize: number;
  /** SHA-256 of the input as received (null for input quarantined before kubetrail kept it). */
  rawSha256: string | null;
  /** The input redacted (JSON), or a masked excerpt: never its secrets. */
  raw: string;
}

export const QUARANTINE_COLUMNS: (keyof QuarantineRow)[] = ['id', 'time', 'source', 'cluster', 'position', 'reason', 'rawSize', 'rawSha256', 'raw'];

/** The first request time stored of each cluster, in microseconds. */
export function oldestEvents(db: Database): { cluster: string; first: number }[] {
  return db.prepare('SELECT c.value AS cluster, min(e.received_at) AS first FROM events e JOIN strings c ON c.id = e.cluster_id GROUP BY e.cluster_id').all() as { cluster: string; first: number }[];
}

/** Which quarantined input to list, newest first: `beforeId` is the cursor. */
export interface QuarantineFilter {
  since?: number;
  source?: string;
  cluster?: string;
  beforeId?: number;
  limit?: number;
  maxRawChars?: number;
}

export function* queryQuarantine(db: Database, f: QuarantineFilter): IterableIterator<QuarantineRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.since !== undefined) where.push('received_at >= ?') && params.push(f.since);
  if (f.source !== undefined) where.push('source = ?') && params.push(f.source);
  if (f.cluster !== undefined) where.push('cluster = ?') && params.push(f.cluster);
  if (f.beforeId !== undefined) where.push('id < ?') && params.push(f.beforeId);
  let sql = `SELECT id, received_at, source, cluster, position, reason, raw_size, raw_sha256, substr(raw, 1, ?) AS raw FROM quarantine ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`;
  params.unshift(f.maxRawChars ?? 65_536);
  if (f.limit) sql += ' LIMIT ?', params.push(f.limit);
  for (const r of db.prepare(sql).iterate(...params) as IterableIterator<{ id: number; received_at: number; source: string; cluster: string; position: string; reason: string; raw_size: number; raw_sha256: string | null; raw: Buffer | string | null }>) {
    // An empty input is stored as an empty blob, which substr() gives back as text.
    const raw = r.raw === null ? '' : typeof r.raw === 'string' ? r.raw : Buffer.from(r.raw).toString('utf8');
    yield { id: r.id, time: formatMicroTime(r.received_at), source: r.source, cluster: r.cluster, position: r.position, reason: r.reason, rawSize: r.raw_size, rawSha256: r.raw_sha256 || null, raw };
  }
}
