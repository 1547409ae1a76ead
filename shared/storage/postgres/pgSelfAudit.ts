import type pg from 'pg';
import { nowMicros, type Clock } from '../../clock.js';
import type { Rows } from '../port.js';
import { storableText } from './pgText.js';
import { RefusalRows, safeQuery, selfAuditRow, type Refusal, type SelfAuditEntry, type SelfAuditFilter, type SelfAuditRow } from '../sqlite/tables/selfAudit.js';

/** Records an entry in kubetrail's own audit trail on PostgreSQL; its id. The query is kept as SQLite keeps it (safeQuery for the API). */
export async function recordPgSelfAudit(pool: pg.Pool, clock: Clock, e: SelfAuditEntry): Promise<number> {
  const query = e.query === undefined ? null : JSON.stringify(e.channel === 'api' ? safeQuery(e.query) : e.query);
  const r = await pool.query<{ id: string }>(
    'INSERT INTO self_audit (at, channel, actor, role, source, action, query, rows, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id',
    // A caller's text may hold U+0000 (a crafted path): kept as U+FFFD, never lost from the trail.
    [nowMicros(clock), e.channel, storableText(e.actor), e.role ?? null, e.source == null ? null : storableText(e.source), storableText(e.action), query, e.rows ?? null, e.status ?? null, e.detail == null ? null : storableText(e.detail)],
  );
  return Number(r.rows[0]!.id);
}

/** The trail, newest first by default (the API's self-audit list). */
export async function* queryPgSelfAudit(pool: pg.Pool, f: SelfAuditFilter = {}): Rows<SelfAuditRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const asc = f.order === 'asc';
  if (f.since !== undefined) where.push(`at >= ${p(f.since)}`);
  if (f.until !== undefined) where.push(`at < ${p(f.until)}`);
  if (f.actor !== undefined) where.push(`actor = ${p(f.actor)}`);
  if (f.channel !== undefined) where.push(`channel = ${p(f.channel)}`);
  if (f.afterId !== undefined) where.push(`id ${asc ? '>' : '<'} ${p(f.afterId)}`);
  const sql = `SELECT * FROM self_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${asc ? 'ASC' : 'DESC'}${f.limit ? ` LIMIT ${p(f.limit)}` : ''}`;
  for (const r of (await pool.query<Record<string, unknown>>(sql, params)).rows) yield selfAuditRow(r);
}

/** What the last recorded start of the service said of itself (its query), or undefined before the first. */
export async function lastPgServiceStart(pool: pg.Pool): Promise<unknown> {
  const r = await pool.query<{ query: string | null }>("SELECT query FROM self_audit WHERE channel = 'service' AND action = 'start' ORDER BY id DESC LIMIT 1");
  const q = r.rows[0]?.query;
  return q === undefined || q === null ? undefined : JSON.parse(q);
}

/**
 * Records refused API calls compactly (RefusalRows). `track` is handed each write, which
 * nothing waits for.
 */
export function createPgRefusalRecorder(pool: pg.Pool, clock: Clock, track: (write: Promise<unknown>) => void): (e: Refusal) => void {
  const rows = new RefusalRows<Promise<number>>(clock);
  return (e) => {
    const found = rows.find(e);
    if (found.row) {
      track(found.row.then((id) => pool.query('UPDATE self_audit SET count = count + 1 WHERE id = $1', [id])));
      return;
    }
    const inserted = recordPgSelfAudit(pool, clock, found.entry);
    found.keep(inserted);
    track(inserted);
  };
}
