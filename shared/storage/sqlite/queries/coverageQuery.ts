import type { Database } from 'better-sqlite3';
import type { CoverageStats } from '../../../analysis/coverage.js';

/** The window whose events the coverage report counts (microseconds). */
export interface CoverageFilter {
  cluster: string;
  since: number;
  until: number;
  /** Events counted at most, the newest (default COVERAGE_SAMPLE). */
  sample?: number;
}

const READS = "('get', 'list', 'watch')";
const WRITES = "('create', 'update', 'patch')";
const WORKLOADS = "('pods', 'deployments', 'daemonsets', 'statefulsets', 'replicasets', 'jobs', 'cronjobs', 'replicationcontrollers')";

/**
 * Events counted at most: the newest of the window. What an audit policy records shows in any
 * large sample, and the usage report, which asks before reading its rollups, stays as fast on
 * a year of events as on a day.
 */
export const COVERAGE_SAMPLE = 100_000;

/**
 * The counts of one cluster's window the coverage report judges (analysis/coverage.ts), in SQL
 * both stores run: `groups` is the engine's test that a principal's JSON has a non-empty groups list.
 */
export function coverageSql(groups: (json: string) => string, p: (i: number) => string, sampleSize = COVERAGE_SAMPLE): { counts: string; users: string } {
  const sample = `(SELECT * FROM events e WHERE e.cluster_id = (SELECT id FROM strings WHERE value = ${p(1)}) AND e.received_at >= ${p(2)} AND e.received_at < ${p(3)}
    ORDER BY e.received_at DESC LIMIT ${Math.max(1, Math.floor(sampleSize))}) e`;
  const write = `v.verb IN ${WRITES} AND coalesce(r.subresource, '') = ''`;
  return {
    counts: `SELECT count(*) AS events,
        sum(CASE WHEN e.level = 0 THEN 1 ELSE 0 END) AS l0, sum(CASE WHEN e.level = 1 THEN 1 ELSE 0 END) AS l1,
        sum(CASE WHEN e.level = 2 THEN 1 ELSE 0 END) AS l2, sum(CASE WHEN e.level = 3 THEN 1 ELSE 0 END) AS l3,
        sum(CASE WHEN v.verb IN ${READS} THEN 1 ELSE 0 END) AS reads,
        sum(CASE WHEN ${write} THEN 1 ELSE 0 END) AS writes,
        sum(CASE WHEN ${write} AND e.has_body = 1 THEN 1 ELSE 0 END) AS writes_body,
        sum(CASE WHEN ${write} AND r.resource IN ${WORKLOADS} THEN 1 ELSE 0 END) AS workload_writes,
        sum(CASE WHEN ${write} AND r.resource IN ${WORKLOADS} AND e.has_body = 1 THEN 1 ELSE 0 END) AS workload_body,
        sum(CASE WHEN ${write} AND r.api_group = 'rbac.authorization.k8s.io' THEN 1 ELSE 0 END) AS rbac_writes,
        sum(CASE WHEN ${write} AND r.api_group = 'rbac.authorization.k8s.io' AND e.has_body = 1 THEN 1 ELSE 0 END) AS rbac_body,
        sum(CASE WHEN e.reason_id IS NOT NULL THEN 1 ELSE 0 END) AS with_reason
      FROM ${sample} JOIN verbs v ON v.id = e.verb_id LEFT JOIN api_resources r ON r.id = e.resource_id`,
    users: `SELECT count(*) AS users, sum(CASE WHEN ${groups('p.json')} THEN 1 ELSE 0 END) AS with_groups
      FROM (SELECT DISTINCT e.user_id FROM ${sample}) u JOIN principals p ON p.id = u.user_id`,
  };
}

/** The rows of coverageSql as CoverageStats (either engine's numbers, or text for bigints). */
export function coverageStats(c: Record<string, unknown>, u: Record<string, unknown>): CoverageStats {
  const n = (v: unknown) => Number(v ?? 0);
  return {
    events: n(c.events),
    levels: [n(c.l0), n(c.l1), n(c.l2), n(c.l3)],
    reads: n(c.reads),
    writes: n(c.writes),
    writesWithBody: n(c.writes_body),
    workloadWrites: n(c.workload_writes),
    workloadWritesWithBody: n(c.workload_body),
    rbacWrites: n(c.rbac_writes),
    rbacWritesWithBody: n(c.rbac_body),
    withReason: n(c.with_reason),
    users: n(u.users),
    usersWithGroups: n(u.with_groups),
  };
}

export function coverageOf(db: Database, f: CoverageFilter): CoverageStats {
  const sql = coverageSql((json) => `coalesce(json_array_length(${json}, '$.groups'), 0) > 0`, () => '?', f.sample);
  const params = [f.cluster, f.since, f.until];
  return coverageStats(db.prepare(sql.counts).get(...params) as Record<string, unknown>, db.prepare(sql.users).get(...params) as Record<string, unknown>);
}
