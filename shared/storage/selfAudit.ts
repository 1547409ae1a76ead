import type { Database } from 'better-sqlite3';
import { nowMicros, type Clock } from '../clock.js';
import { formatMicroTime } from '../audit/time.js';

/** Who touched kubetrail's store, how: migrations/0008_self_audit.sql. */
export type SelfAuditChannel = 'api' | 'cli' | 'service';

export interface SelfAuditEntry {
  channel: SelfAuditChannel;
  actor: string;
  role?: string | null;
  source?: string | null;
  action: string;
  /** The query parameters (an object) or the command line (a list of arguments). */
  query?: unknown;
  rows?: number | null;
  status?: number | null;
  detail?: string | null;
}

export interface SelfAuditRow extends Required<Omit<SelfAuditEntry, 'query'>> {
  id: number;
  time: string;
  query: unknown;
}

export const SELF_AUDIT_COLUMNS: (keyof SelfAuditRow)[] = ['id', 'time', 'channel', 'actor', 'role', 'source', 'action', 'query', 'rows', 'status', 'detail'];

/** Records entries in kubetrail's own audit trail. */
export function createSelfAuditRecorder(db: Database, clock: Clock): (e: SelfAuditEntry) => number {
  const insert = db.prepare(`INSERT INTO self_audit (at, channel, actor, role, source, action, query, rows, status, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  return (e) =>
    Number(
      insert.run(
        nowMicros(clock), e.channel, e.actor, e.role ?? null, e.source ?? null, e.action,
        e.query === undefined ? null : JSON.stringify(e.query), e.rows ?? null, e.status ?? null, e.detail ?? null,
      ).lastInsertRowid,
    );
}

export interface SelfAuditFilter {
  since?: number;
  until?: number;
  actor?: string;
  channel?: SelfAuditChannel;
  /** Entries after (asc) or before (desc) this id: the cursor. */
  afterId?: number;
  order?: 'asc' | 'desc';
  limit?: number;
}

/** The trail, newest first by default. */
export function* querySelfAudit(db: Database, f: SelfAuditFilter = {}): IterableIterator<SelfAuditRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  const asc = f.order === 'asc';
  if (f.since !== undefined) where.push('at >= ?') && params.push(f.since);
  if (f.until !== undefined) where.push('at < ?') && params.push(f.until);
  if (f.actor !== undefined) where.push('actor = ?') && params.push(f.actor);
  if (f.channel !== undefined) where.push('channel = ?') && params.push(f.channel);
  if (f.afterId !== undefined) where.push(asc ? 'id > ?' : 'id < ?') && params.push(f.afterId);
  let sql = `SELECT * FROM self_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${asc ? 'ASC' : 'DESC'}`;
  if (f.limit) sql += ' LIMIT ?', params.push(f.limit);
  for (const r of db.prepare(sql).iterate(...params) as IterableIterator<Record<string, unknown>>) {
    yield {
      id: r.id as number,
      time: formatMicroTime(r.at as number),
      channel: r.channel as SelfAuditChannel,
      actor: r.actor as string,
      role: r.role as string | null,
      source: r.source as string | null,
      action: r.action as string,
      query: r.query === null ? null : JSON.parse(r.query as string),
      rows: r.rows as number | null,
      status: r.status as number | null,
      detail: r.detail as string | null,
    };
  }
}
