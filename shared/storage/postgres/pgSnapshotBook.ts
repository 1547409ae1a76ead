import type pg from 'pg';
import type { SnapshotBook } from '../port.js';
import { noSnapshot, rowToInfo, rowToSnapshot, storedSnapshot, type SnapshotRow } from '../sqlite/tables/rbacSnapshots.js';

/** RBAC snapshots on PostgreSQL, stored as SQLite stores them (sqlite/tables/rbacSnapshots.ts). */
export function pgSnapshotBook(pool: pg.Pool): SnapshotBook {
  return {
    save: async (s) => {
      const stored = storedSnapshot(s);
      const r = await pool.query<{ id: string }>('INSERT INTO rbac_snapshots (cluster, taken_at, source, state, summary) VALUES ($1, $2, $3, $4, $5) RETURNING id', [
        s.cluster, s.takenAt, s.source, stored.state, stored.summaryJson,
      ]);
      return { id: Number(r.rows[0]!.id), cluster: s.cluster, takenAt: s.takenAt, source: s.source, summary: stored.summary };
    },
    list: async (cluster) => {
      const r = await pool.query<SnapshotRow>(
        `SELECT id, cluster, taken_at, source, summary FROM rbac_snapshots ${cluster === undefined ? '' : 'WHERE cluster = $1'} ORDER BY taken_at DESC, id DESC`,
        cluster === undefined ? [] : [cluster],
      );
      return r.rows.map(rowToInfo);
    },
    get: async (id) => {
      const row = (await pool.query<SnapshotRow>('SELECT * FROM rbac_snapshots WHERE id = $1', [id])).rows[0];
      if (!row) throw noSnapshot(id);
      return rowToSnapshot(row);
    },
    has: async (cluster) => (await pool.query('SELECT 1 FROM rbac_snapshots WHERE cluster = $1 LIMIT 1', [cluster])).rowCount === 1,
    latest: async (cluster, at) => {
      const r = await pool.query<SnapshotRow>(
        `SELECT * FROM rbac_snapshots WHERE cluster = $1 ${at === undefined ? '' : 'AND taken_at <= $2'} ORDER BY taken_at DESC, id DESC LIMIT 1`,
        at === undefined ? [cluster] : [cluster, at],
      );
      return r.rows[0] ? rowToSnapshot(r.rows[0]) : null;
    },
  };
}
