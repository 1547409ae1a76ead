import type { Database } from 'better-sqlite3';
import { formatMicroTime } from '../../../audit/time.js';
import { SEVERITIES, type Severity } from '../../../detect/types.js';
import type { IdentityValues } from '../../findingAlert.js';

/** An alert as `kubetrail alerts` and the API show it (PRODUCT.md, alert rows). */
export interface AlertRow {
  id: number;
  rule: string;
  severity: Severity;
  /** requestReceivedTimestamp of the first contributing request; lastTime of the last. */
  time: string;
  lastTime: string;
  cluster: string;
  /**
   * Who: the value every request of the alert shares, or the list of their distinct values
   * (at most MAX_IDENTITY_VALUES, then '…'): never the first request's alone.
   */
  actor: string | string[];
  effectiveUser: string | string[];
  person: string | null | (string | null)[];
  count: number;
  auditIDs: string[];
  message: string;
  status: string;
  pci: string[];
  ackedBy: string | null;
  ackedAt: string | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
}

export const ALERT_COLUMNS: (keyof AlertRow)[] = ['id', 'time', 'severity', 'rule', 'cluster', 'actor', 'effectiveUser', 'person', 'count', 'status', 'message', 'pci', 'auditIDs'];

export interface AlertFilter {
  /** Microseconds: alerts whose last request is at or after. */
  since?: number;
  /** At or above this severity. */
  severity?: Severity;
  rule?: string;
  status?: AlertStatus;
  cluster?: string;
  /** Only alerts after this one in the order asked for (newest first unless `asc`): the next page. */
  after?: { firstAt: number; id: number };
  order?: 'asc' | 'desc';
  /** 0 = all. */
  limit?: number;
}

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** Alerts, newest first. */
export function* queryAlerts(db: Database, filter: AlertFilter = {}): IterableIterator<AlertRow> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.since !== undefined) where.push('a.last_at >= ?') && params.push(filter.since);
  if (filter.rule !== undefined) where.push('a.rule = ?') && params.push(filter.rule);
  if (filter.status !== undefined) where.push('a.status = ?') && params.push(filter.status);
  if (filter.cluster !== undefined) where.push('a.cluster = ?') && params.push(filter.cluster);
  const asc = filter.order === 'asc';
  if (filter.after !== undefined) where.push(`(a.first_at, a.id) ${asc ? '>' : '<'} (?, ?)`) && params.push(filter.after.firstAt, filter.after.id);
  if (filter.severity !== undefined) {
    const levels = SEVERITIES.slice(SEVERITIES.indexOf(filter.severity));
    where.push(`a.severity IN (${levels.map(() => '?').join(', ')})`);
    params.push(...levels);
  }
  let sql = `SELECT a.*, ${AUDIT_IDS} AS audit_ids FROM alerts a
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.first_at ${asc ? 'ASC' : 'DESC'}, a.id ${asc ? 'ASC' : 'DESC'}`;
  if (filter.limit) {
    sql += ' LIMIT ?';
    params.push(filter.limit);
  }
  for (const r of db.prepare(sql).iterate(...params) as IterableIterator<Record<string, unknown>>) yield toAlert(r);
}

/** Alerts by id, in the order given (missing ids are left out). */
export function getAlerts(db: Database, ids: readonly number[]): AlertRow[] {
  const select = db.prepare(`SELECT a.*, ${AUDIT_IDS} AS audit_ids FROM alerts a WHERE a.id = ?`);
  return ids.flatMap((id) => {
    const r = select.get(id) as Record<string, unknown> | undefined;
    return r ? [toAlert(r)] : [];
  });
}

const AUDIT_IDS = '(SELECT json_group_array(audit_id) FROM alert_events WHERE alert_id = a.id)';

/** An alert's identity field as text: the value, or the distinct values joined (`-` for none). */
export function identityText(v: string | null | (string | null)[]): string {
  return Array.isArray(v) ? v.map((x) => x ?? '-').join(', ') : v ?? '';
}

/** An identity field: the distinct values when the requests differ, else the alert's own. */
function identity<T extends string | null>(values: IdentityValues, field: 'actor' | 'effectiveUser' | 'person', own: T): T | (T | '…')[] {
  const list = values[field] as T[] | undefined;
  if (!list || list.length < 2) return own;
  return values.more?.includes(field) ? [...list, '…'] : list;
}

/** An alerts row (with its auditIDs as JSON, `audit_ids`) as shown. */
export function toAlert(r: Record<string, unknown>): AlertRow {
  const values = (r.identity_values ? JSON.parse(r.identity_values as string) : {}) as IdentityValues;
  return {
    id: r.id as number,
    rule: r.rule as string,
    severity: r.severity as Severity,
    time: formatMicroTime(r.first_at as number),
    lastTime: formatMicroTime(r.last_at as number),
    cluster: r.cluster as string,
    actor: identity(values, 'actor', r.actor as string),
    effectiveUser: identity(values, 'effectiveUser', r.effective_user as string),
    person: identity(values, 'person', r.person as string | null),
    count: r.count as number,
    auditIDs: JSON.parse(r.audit_ids as string) as string[],
    message: r.message as string,
    status: r.status as string,
    pci: JSON.parse(r.pci as string) as string[],
    ackedBy: (r.acked_by as string | null) ?? null,
    ackedAt: r.acked_at == null ? null : formatMicroTime(r.acked_at as number),
    resolvedBy: (r.resolved_by as string | null) ?? null,
    resolvedAt: r.resolved_at == null ? null : formatMicroTime(r.resolved_at as number),
  };
}

