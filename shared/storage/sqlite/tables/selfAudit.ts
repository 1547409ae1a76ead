import type { Database } from 'better-sqlite3';
import { nowMicros, type Clock } from '../../../clock.js';
import { formatMicroTime } from '../../../audit/time.js';

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
  /** How many calls the row stands for (refused calls of one address, minute, status and path). */
  count: number;
}

export const SELF_AUDIT_COLUMNS: (keyof SelfAuditRow)[] = ['id', 'time', 'channel', 'actor', 'role', 'source', 'action', 'query', 'rows', 'status', 'detail', 'count'];

/** Parameter names a credential hides behind: never recorded, whatever they hold. */
const CREDENTIAL_NAME = /token|passw|secret|key|auth|credential|session|cookie|sig/i;
const MAX_PARAMS = 20;
const MAX_TEXT = 200;

/**
 * Query parameters as the trail keeps them: none named like a credential, at most 20, each
 * value cut at 200 characters. A client that puts a token in `?token=` leaves no token here.
 */
export function safeQuery(query: unknown): unknown {
  if (typeof query !== 'object' || query === null || Array.isArray(query)) return query;
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(query)) {
    if (n++ >= MAX_PARAMS) {
      out['…'] = `${Object.keys(query).length - MAX_PARAMS} more`;
      break;
    }
    const key = k.slice(0, MAX_TEXT);
    if (CREDENTIAL_NAME.test(key)) out[key] = '(not recorded)';
    else out[key] = typeof v === 'string' ? v.slice(0, MAX_TEXT) : Array.isArray(v) ? v.slice(0, 5).map((x) => String(x).slice(0, MAX_TEXT)) : '(not recorded)';
  }
  return out;
}

/** A refused API call (no or wrong credential), as the self-audit records it. */
export type Refusal = { actor: string; source: string | null; action: string; status: number; query?: unknown };

/**
 * Refused calls recorded compactly, whatever the store: a call joins the row of the same
 * address, actor, status and path in the same minute, which counts it. A flood is a few rows a
 * minute. `row` is how a store finds the row again (its id, or the id to come).
 */
export class RefusalRows<R> {
  private minute = -1;
  private readonly rows = new Map<string, R>();

  constructor(private readonly clock: Clock) {}

  /** The refusal's row of this minute, if it has one; `keep` remembers a new one. */
  find(e: Refusal): { row: R | undefined; entry: SelfAuditEntry; keep(row: R): void } {
    const now = Math.floor(this.clock() / 60_000);
    if (now !== this.minute || this.rows.size > 10_000) this.rows.clear(), (this.minute = now);
    const action = e.action.slice(0, MAX_TEXT);
    const key = `${e.source}\u0000${e.actor}\u0000${e.status}\u0000${action}`;
    return {
      row: this.rows.get(key),
      entry: { channel: 'api', actor: e.actor, source: e.source, action, status: e.status, query: e.query },
      keep: (row) => this.rows.set(key, row),
    };
  }
}

export function createRefusalRecorder(db: Database, clock: Clock): (e: Refusal) => void {
  const record = createSelfAuditRecorder(db, clock);
  const bump = db.prepare('UPDATE self_audit SET count = count + 1 WHERE id = ?');
  const rows = new RefusalRows<number>(clock);
  return (e) => {
    const found = rows.find(e);
    if (found.row !== undefined && bump.run(found.row).changes > 0) return;
    found.keep(record(found.entry));
  };
}

/** Records entries in kubetrail's own audit trail. */
export function createSelfAuditRecorder(db: Database, clock: Clock): (e: SelfAuditEntry) => number {
  const insert = db.prepare(`INSERT INTO self_audit (at, channel, actor, role, source, action, query, rows, status, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  return (e) =>
    Number(
      insert.run(
        nowMicros(clock), e.channel, e.actor, e.role ?? null, e.source ?? null, e.action,
        e.query === undefined ? null : JSON.stringify(e.channel === 'api' ? safeQuery(e.query) : e.query), e.rows ?? null, e.status ?? null, e.detail ?? null,
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
/** What the last recorded start of the service said of itself (its query), or undefined before the first. */
export function lastServiceStart(db: Database): unknown {
  const last = db.prepare("SELECT query FROM self_audit WHERE channel = 'service' AND action = 'start' ORDER BY id DESC LIMIT 1").pluck().get() as string | undefined;
  return last === undefined ? undefined : JSON.parse(last);
}

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
  for (const r of db.prepare(sql).iterate(...params) as IterableIterator<Record<string, unknown>>) yield selfAuditRow(r);
}

/** A stored `self_audit` row as the trail shows it, from either backend (numbers may come as text). */
export function selfAuditRow(r: Record<string, unknown>): SelfAuditRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id),
    time: formatMicroTime(Number(r.at)),
    channel: r.channel as SelfAuditChannel,
    actor: r.actor as string,
    role: (r.role as string | null) ?? null,
    source: (r.source as string | null) ?? null,
    action: r.action as string,
    query: r.query === null || r.query === undefined ? null : JSON.parse(r.query as string),
    rows: num(r.rows),
    status: num(r.status),
    detail: (r.detail as string | null) ?? null,
    count: Number(r.count),
  };
}
