import type pg from 'pg';
import { formatMicroTime } from '../../audit/time.js';
import type { Rows, StatusReads } from '../port.js';
import type { ClusterIngest, QuarantineFilter, QuarantineRow } from '../sqlite/queries/ingestStatus.js';
import { coverageSql, coverageStats } from '../sqlite/queries/coverageQuery.js';
import { activityOf, activitySql } from '../sqlite/queries/activityQuery.js';

/**
 * Each cluster's ingest and the quarantine on PostgreSQL, as SQLite shows them
 * (sqlite/queries/ingestStatus.ts). The clusters are those of the last day's arrivals (every
 * writer records them: pgBatchStore.ts) and of the quarantine.
 */
export function pgIngestStatus(pool: pg.Pool): Pick<StatusReads, 'clusters' | 'oldest' | 'quarantine' | 'coverage' | 'activity'> {
  return {
    activity: async (f) => {
      const params = [f.since, f.until, f.bucketMicros, ...(f.cluster !== undefined ? [f.cluster] : [])];
      return activityOf((await pool.query(activitySql((i) => (i === 4 ? '$4' : `$${i}::bigint`), f.cluster !== undefined), params)).rows as Record<string, unknown>[], f);
    },
    coverage: async (f) => {
      const sql = coverageSql((json) => `CASE WHEN jsonb_typeof(${json}::jsonb -> 'groups') = 'array' THEN jsonb_array_length(${json}::jsonb -> 'groups') > 0 ELSE false END`, (i) => `$${i}`, f.sample);
      const params = [f.cluster, f.since, f.until];
      return coverageStats((await pool.query(sql.counts, params)).rows[0] as Record<string, unknown>, (await pool.query(sql.users, params)).rows[0] as Record<string, unknown>);
    },
    clusters: async (nowMicros, windowSeconds = 300) => {
      // Every cluster that holds events, however old (cluster_spans, kept by every writer), and those with quarantined input.
      const names = (
        await pool.query<{ cluster: string }>('SELECT c.value AS cluster FROM cluster_spans s JOIN strings c ON c.id = s.cluster_id UNION SELECT DISTINCT cluster FROM quarantine ORDER BY 1')
      ).rows.map((r) => r.cluster);
      const out: ClusterIngest[] = [];
      for (const cluster of names) {
        const id = (await pool.query<{ id: string }>('SELECT id FROM strings WHERE value = $1', [cluster])).rows[0]?.id;
        const last = id === undefined ? undefined : (await pool.query<{ t: string }>('SELECT last_at AS t FROM cluster_spans WHERE cluster_id = $1', [id])).rows[0]?.t;
        const n = id === undefined ? 0 : Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE cluster_id = $1 AND received_at >= $2', [id, nowMicros - windowSeconds * 1e6])).rows[0]!.n);
        const q = (await pool.query<{ source: string; n: string }>('SELECT source, count(*) AS n FROM quarantine WHERE cluster = $1 GROUP BY source ORDER BY source', [cluster])).rows;
        out.push({
          cluster,
          lastEventTime: last === undefined ? null : formatMicroTime(Number(last)),
          eventsPerSecond: Math.round((n / windowSeconds) * 100) / 100,
          quarantined: Object.fromEntries(q.map((r) => [r.source, Number(r.n)])),
        });
      }
      return out;
    },
    // A scan of the events: the evidence pack asks it, once.
    oldest: async () =>
      (await pool.query<{ cluster: string; first: string }>('SELECT c.value AS cluster, f.first FROM (SELECT cluster_id, min(received_at) AS first FROM events GROUP BY cluster_id) f JOIN strings c ON c.id = f.cluster_id')).rows.map((r) => ({
        cluster: r.cluster,
        first: Number(r.first),
      })),
    quarantine: (f) => quarantine(pool, f),
  };
}

async function* quarantine(pool: pg.Pool, f: QuarantineFilter): Rows<QuarantineRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (f.since !== undefined) where.push(`received_at >= ${p(f.since)}`);
  if (f.source !== undefined) where.push(`source = ${p(f.source)}`);
  if (f.cluster !== undefined) where.push(`cluster = ${p(f.cluster)}`);
  if (f.beforeId !== undefined) where.push(`id < ${p(f.beforeId)}`);
  const sql = `SELECT id, received_at, source, cluster, position, reason, raw_size, raw_sha256, substring(raw FROM 1 FOR ${p(f.maxRawChars ?? 65_536)}) AS raw
    FROM quarantine ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC${f.limit ? ` LIMIT ${p(f.limit)}` : ''}`;
  const rows = (await pool.query<{ id: string; received_at: string; source: string; cluster: string; position: string; reason: string; raw_size: string; raw_sha256: string | null; raw: Buffer | null }>(sql, params)).rows;
  for (const r of rows) {
    yield {
      id: Number(r.id), time: formatMicroTime(Number(r.received_at)), source: r.source, cluster: r.cluster, position: r.position, reason: r.reason,
      rawSize: Number(r.raw_size), rawSha256: r.raw_sha256 || null, raw: r.raw === null ? '' : r.raw.toString('utf8'),
    };
  }
}
