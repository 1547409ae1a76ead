import type { Database } from 'better-sqlite3';
import { ConflictError, InputError, NotFoundError } from '../../../errors.js';
import { acknowledgeAlert, raisePipelineAlert } from './alertStore.js';
import type { GapEvent, GapKind, StreamState } from '../../../detect/pipelineGaps.js';

/** Pipeline gaps as stored (migration 0012), each with its audit-pipeline-gap alert. */

export const GAP_RULE = 'audit-pipeline-gap';
export const GAP_PCI = ['10.7.2', '10.7.3', '10.2.1', '10.2.1.6'];

/** The alert message of a gap opening. */
export function gapMessage(e: Extract<GapEvent, { type: 'open' }>): string {
  const what = e.kind === 'silence' ? `sent nothing for ${Math.round((e.detectedAt - e.startedAt) / 1000)} s` : `sent ${e.seen} events in a window that normally brings ${e.expectedPerWindow}`;
  return `audit pipeline gap: cluster ${e.cluster} via ${e.source} ${what} (since ${new Date(e.startedAt).toISOString()}); audit events may be lost`;
}

/** A pipeline_gaps row as shown, from either backend (numbers may come as text). */
export function gapRow(r: Record<string, unknown>, nowMicros: number): GapRow {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: n(r.id)!,
    cluster: r.cluster as string,
    source: r.source as string,
    kind: r.kind as string,
    startedAt: iso(n(r.started_at))!,
    detectedAt: iso(n(r.detected_at))!,
    endedAt: iso(n(r.ended_at)),
    seconds: Math.round(((n(r.ended_at) ?? nowMicros) - n(r.started_at)!) / 1e6),
    expectedPerWindow: n(r.expected)!,
    windowSeconds: n(r.window_ms)! / 1000,
    lateEvents: n(r.late_events) === 1,
    alertId: n(r.alert_id),
    cause: r.cause as string | null,
    remediation: r.remediation as string | null,
    ackedBy: r.acked_by as string | null,
    ackedAt: iso(n(r.acked_at)),
  };
}

/** Refuses an acknowledgement without its cause and remediation (10.7.3). */
export function checkGapAcknowledgement(a: { cause: string; remediation: string }): void {
  for (const [k, v] of Object.entries({ cause: a.cause, remediation: a.remediation })) if (!v.trim()) throw new InputError(`${k}: must not be empty (PCI DSS 10.7.3 asks for both)`);
}

export interface GapRow {
  id: number;
  cluster: string;
  source: string;
  kind: string;
  startedAt: string;
  detectedAt: string;
  endedAt: string | null;
  /** Seconds from start to end (or to now while open). */
  seconds: number;
  expectedPerWindow: number;
  windowSeconds: number;
  lateEvents: boolean;
  alertId: number | null;
  cause: string | null;
  remediation: string | null;
  ackedBy: string | null;
  ackedAt: string | null;
}

export const GAP_COLUMNS: (keyof GapRow)[] = ['id', 'cluster', 'source', 'kind', 'startedAt', 'detectedAt', 'endedAt', 'seconds', 'expectedPerWindow', 'lateEvents', 'cause', 'remediation', 'ackedBy', 'ackedAt', 'alertId'];

const iso = (micros: number | null) => (micros === null ? null : new Date(micros / 1000).toISOString());

/** Records what the watch saw: an opening (with its alert) or a closing. Returns the gap's id. */
export function recordGapEvent(db: Database, e: GapEvent, windowMs: number): number | null {
  return db.transaction(() => {
    if (e.type === 'open') {
      const alert = raisePipelineAlert(db, { rule: GAP_RULE, dedupeKey: `${e.cluster}/${e.source}`, cluster: e.cluster, firstAt: e.startedAt * 1000, lastAt: e.detectedAt * 1000, message: gapMessage(e), pci: GAP_PCI });
      const gap = db
        .prepare('INSERT INTO pipeline_gaps (cluster, source, kind, started_at, detected_at, expected, window_ms, alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(e.cluster, e.source, e.kind, e.startedAt * 1000, e.detectedAt * 1000, e.expectedPerWindow, windowMs, alert);
      return Number(gap.lastInsertRowid);
    }
    const open = db.prepare('SELECT id FROM pipeline_gaps WHERE cluster = ? AND source = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1').pluck().get(e.cluster, e.source) as number | undefined;
    if (open === undefined) return null;
    db.prepare('UPDATE pipeline_gaps SET ended_at = ?, late_events = ? WHERE id = ?').run(e.endedAt * 1000, e.lateEvents ? 1 : 0, open);
    return open;
  })();
}

export function queryGaps(db: Database, f: { since?: number; cluster?: string; open?: boolean }, nowMicros: number): GapRow[] {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.since !== undefined) where.push('coalesce(ended_at, ?) >= ?') && params.push(nowMicros, f.since);
  if (f.cluster !== undefined) where.push('cluster = ?') && params.push(f.cluster);
  if (f.open) where.push('ended_at IS NULL');
  const rows = db.prepare(`SELECT * FROM pipeline_gaps ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC`).all(...params) as Record<string, number | string | null>[];
  return rows.map((r) => gapRow(r, nowMicros));
}

/** Acknowledges a gap with its cause and remediation (10.7.3), and its alert with it. */
export function acknowledgeGap(db: Database, id: number, a: { cause: string; remediation: string; by: string }, nowMicros: number): GapRow {
  checkGapAcknowledgement(a);
  return db.transaction(() => {
    const row = db.prepare('SELECT acked_at, alert_id FROM pipeline_gaps WHERE id = ?').get(id) as { acked_at: number | null; alert_id: number | null } | undefined;
    if (!row) throw new NotFoundError(`no pipeline gap #${id}`);
    if (row.acked_at !== null) throw new ConflictError(`pipeline gap #${id} is already acknowledged`);
    db.prepare('UPDATE pipeline_gaps SET cause = ?, remediation = ?, acked_by = ?, acked_at = ? WHERE id = ?').run(a.cause, a.remediation, a.by, nowMicros, id);
    if (row.alert_id !== null) acknowledgeAlert(db, row.alert_id, a.by, nowMicros);
    return queryGaps(db, {}, nowMicros).find((g) => g.id === id)!;
  })();
}

/** Keeps what the watch knows of each stream (migration 0014), for the window it was learned in. */
export function saveStreams(db: Database, states: readonly StreamState[], windowMs: number): void {
  const upsert = db.prepare(`INSERT INTO pipeline_streams (cluster, source, window_ms, baseline, learned, last_arrival) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (cluster, source) DO UPDATE SET window_ms = excluded.window_ms, baseline = excluded.baseline, learned = excluded.learned, last_arrival = excluded.last_arrival`);
  db.transaction(() => {
    for (const s of states) upsert.run(s.cluster, s.source, windowMs, s.baseline, s.learned, s.lastArrival);
  })();
}

/**
 * The streams kept for this window length, each with its open gap if it has one (a gap open
 * at a restart stays one gap). Rates learned for another gap.minutes are not comparable: those
 * streams are learned again.
 */
export function loadStreams(db: Database, windowMs: number): StreamState[] {
  const rows = db.prepare('SELECT cluster, source, baseline, learned, last_arrival FROM pipeline_streams WHERE window_ms = ?').all(windowMs) as { cluster: string; source: string; baseline: number; learned: number; last_arrival: number }[];
  const openGap = db.prepare('SELECT kind, started_at, late_events FROM pipeline_gaps WHERE cluster = ? AND source = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1');
  return rows.map((r) => {
    const g = openGap.get(r.cluster, r.source) as { kind: GapKind; started_at: number; late_events: number } | undefined;
    return { cluster: r.cluster, source: r.source, baseline: r.baseline, learned: r.learned, lastArrival: r.last_arrival, gap: g ? { kind: g.kind, startedAt: g.started_at / 1000, lateEvents: g.late_events === 1 } : null };
  });
}
