import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Database } from 'better-sqlite3';
import { NotFoundError } from '../../../errors.js';
import type { ObjectProblem } from '../../../rbac/parseObjects.js';
import type { RbacState } from '../../../rbac/types.js';

/** What a snapshot holds, in numbers, and what went wrong reading it. */
export interface SnapshotSummary {
  clusterRoles: number;
  roles: number;
  clusterRoleBindings: number;
  roleBindings: number;
  serviceAccounts: number;
  /** API resources known from discovery (0: none, wildcards are not expanded). */
  apiResources: number;
  skipped: Record<string, number>;
  problems: ObjectProblem[];
  aggregationPending: string[];
}

export interface SnapshotInfo {
  id: number;
  cluster: string;
  /** Microseconds since the epoch. */
  takenAt: number;
  source: string;
  summary: SnapshotSummary;
}

export interface Snapshot extends SnapshotInfo {
  state: RbacState;
}

/** The problems kept in a summary (the CLI prints all of them at load time). */
const PROBLEMS_KEPT = 100;

export interface SnapshotRow {
  id: number;
  cluster: string;
  taken_at: number;
  source: string;
  summary: string;
  state?: Buffer;
}

/** A snapshot as stored, in either backend: its state compressed, its summary as JSON with the problems kept. */
export function storedSnapshot(s: Omit<Snapshot, 'id'>): { summary: SnapshotSummary; state: Buffer; summaryJson: string } {
  const summary = { ...s.summary, problems: s.summary.problems.slice(0, PROBLEMS_KEPT) };
  return { summary, state: deflateRawSync(JSON.stringify(s.state)), summaryJson: JSON.stringify(summary) };
}

export function saveSnapshot(db: Database, s: Omit<Snapshot, 'id'>): SnapshotInfo {
  const stored = storedSnapshot(s);
  const info = db.prepare('INSERT INTO rbac_snapshots (cluster, taken_at, source, state, summary) VALUES (?, ?, ?, ?, ?)').run(s.cluster, s.takenAt, s.source, stored.state, stored.summaryJson);
  return { id: Number(info.lastInsertRowid), cluster: s.cluster, takenAt: s.takenAt, source: s.source, summary: stored.summary };
}

/** Snapshots, newest first, of one cluster or all. */
export function listSnapshots(db: Database, cluster?: string): SnapshotInfo[] {
  const rows = db
    .prepare(`SELECT id, cluster, taken_at, source, summary FROM rbac_snapshots ${cluster === undefined ? '' : 'WHERE cluster = ?'} ORDER BY taken_at DESC, id DESC`)
    .all(...(cluster === undefined ? [] : [cluster])) as SnapshotRow[];
  return rows.map(rowToInfo);
}

export function getSnapshot(db: Database, id: number): Snapshot {
  const row = db.prepare('SELECT * FROM rbac_snapshots WHERE id = ?').get(id) as SnapshotRow | undefined;
  if (!row) throw noSnapshot(id);
  return rowToSnapshot(row);
}

export const noSnapshot = (id: number) => new NotFoundError(`no RBAC snapshot ${id}; \`kubetrail rbac snapshots\` lists them`);

/** The newest snapshot of a cluster (taken at or before `at`, when given), or null. */
/** Whether any RBAC snapshot of `cluster` is stored. */
export function hasSnapshot(db: Database, cluster: string): boolean {
  return db.prepare('SELECT 1 FROM rbac_snapshots WHERE cluster = ?').get(cluster) !== undefined;
}

export function latestSnapshot(db: Database, cluster: string, at?: number): Snapshot | null {
  const row = db
    .prepare(`SELECT * FROM rbac_snapshots WHERE cluster = ? ${at === undefined ? '' : 'AND taken_at <= ?'} ORDER BY taken_at DESC, id DESC LIMIT 1`)
    .get(...(at === undefined ? [cluster] : [cluster, at])) as SnapshotRow | undefined;
  return row ? rowToSnapshot(row) : null;
}

/** A stored row, from either backend (PostgreSQL gives bigints as text). */
export function rowToInfo(r: SnapshotRow): SnapshotInfo {
  return { id: Number(r.id), cluster: r.cluster, takenAt: Number(r.taken_at), source: r.source, summary: JSON.parse(r.summary) as SnapshotSummary };
}

export function rowToSnapshot(r: SnapshotRow): Snapshot {
  return { ...rowToInfo(r), state: JSON.parse(inflateRawSync(r.state!).toString('utf8')) as RbacState };
}
