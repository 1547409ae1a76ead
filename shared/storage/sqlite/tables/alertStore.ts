import type { Database, Statement } from 'better-sqlite3';
import { nowMicros, type Clock } from '../../../clock.js';
import { MAX_ALERT_EVENTS, alertOfFinding, withIdentity, type FindingRow, type OpenAlert } from '../../findingAlert.js';
import { WorkloadCauses } from '../queries/workloadCause.js';
import { getAlerts, type AlertRow } from '../queries/alertQuery.js';

interface CheckoutRow {
  id: number;
  person: string;
  approved_by: string;
  ticket: string;
}

/**
 * Turns findings into alerts, on the writer thread inside the events' transaction: a finding
 * joins the open alert of its rule, key and cluster whose time span it falls within the
 * throttle window of, or opens a new one (findingAlert.ts). A request counts once per alert,
 * whichever of its stages raised the finding (while the alert holds under MAX_ALERT_EVENTS auditIDs).
 */
export class AlertStore {
  private readonly findOpen: Statement;
  private readonly insert: Statement;
  private readonly extend: Statement;
  private readonly addEvent: Statement;
  private readonly personOf: Statement;
  private readonly checkoutAt: Statement;
  private readonly causes: WorkloadCauses;
  /**
   * Within one transaction (nothing else writes the alerts meanwhile): the open alerts findings
   * joined, by rule, key and cluster, and the person of each principal. A flood of findings of one
   * alert then costs one insert each. Cleared by `beginTransaction`.
   */
  private readonly joined = new Map<string, OpenAlert & { first_at: number; last_at: number }>();
  private readonly persons = new Map<number, string | null>();

  constructor(db: Database, private readonly throttleMicros: number, private readonly clock: Clock) {
    this.findOpen = db.prepare(`SELECT id, count, actor, effective_user, person, identity_values, first_at, last_at FROM alerts WHERE status = 'open' AND rule = ? AND dedupe_key = ? AND cluster = ?
      AND last_at >= ? AND first_at <= ? ORDER BY last_at DESC LIMIT 1`);
    this.insert = db.prepare(`INSERT INTO alerts (rule, severity, dedupe_key, cluster, first_at, last_at, actor, effective_user, person,
      count, message, pci, checkout_id, raised_at, identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`);
    this.extend = db.prepare('UPDATE alerts SET count = count + 1, first_at = min(first_at, ?), last_at = max(last_at, ?), identity_values = ? WHERE id = ?');
    this.addEvent = db.prepare('INSERT OR IGNORE INTO alert_events (alert_id, audit_id, received_at, rule) VALUES (?, ?, ?, ?)');
    this.causes = new WorkloadCauses(db);
    this.personOf = db.prepare('SELECT person FROM identities WHERE principal_id = ?').pluck();
    this.checkoutAt = db.prepare(`SELECT id, person, approved_by, ticket FROM breakglass_checkouts
      WHERE account = ? AND from_at <= ? AND ? < min(until_at, coalesce(closed_at, until_at)) ORDER BY from_at DESC LIMIT 1`);
  }

  /** Forgets what the last transaction joined: call at the start of each. */
  beginTransaction(): void {
    this.joined.clear();
    this.persons.clear();
  }

  private person(userId: number): string | null {
    let p = this.persons.get(userId);
    if (p === undefined) this.persons.set(userId, (p = (this.personOf.get(userId) as string | null | undefined) ?? null));
    return p;
  }

  /** Records one finding of a stored event (`userId`: its principal). */
  record(f: FindingRow, e: { cluster: string; receivedAt: number; auditID: string; userId: number }): void {
    const [, ruleId, , key, , actor, effectiveUser, identity, owner] = f;
    const c = ruleId === 'break-glass-use' ? (this.checkoutAt.get(key, e.receivedAt, e.receivedAt) as CheckoutRow | undefined) : undefined;
    const a = alertOfFinding(f, {
      person: this.person(e.userId),
      checkout: c ? { id: c.id, person: c.person, approvedBy: c.approved_by, ticket: c.ticket } : null,
      cause: owner ? this.causes.find(owner, e.cluster, e.receivedAt) : null,
    });
    const lo = e.receivedAt - this.throttleMicros;
    const hi = e.receivedAt + this.throttleMicros;
    const cacheKey = `${a.rule}\0${a.dedupeKey}\0${e.cluster}`;
    const cached = this.joined.get(cacheKey);
    // The alert joined last, if the finding falls within its window; else the store's answer.
    const open = cached && cached.last_at >= lo && cached.first_at <= hi ? cached : (this.findOpen.get(a.rule, a.dedupeKey, e.cluster, lo, hi) as (OpenAlert & { first_at: number; last_at: number }) | undefined);
    if (!open) {
      const info = this.insert.run(a.rule, a.severity, a.dedupeKey, e.cluster, e.receivedAt, e.receivedAt, actor, effectiveUser, a.person, a.message, JSON.stringify(a.pci), a.checkoutId, nowMicros(this.clock), identity);
      this.addEvent.run(info.lastInsertRowid, e.auditID, e.receivedAt, a.rule);
      this.joined.set(cacheKey, { id: Number(info.lastInsertRowid), count: 1, actor, effective_user: effectiveUser, person: a.person, identity_values: null, first_at: e.receivedAt, last_at: e.receivedAt });
      return;
    }
    // Below the cap every counted request has its auditID kept, so another stage of one
    // already counted adds nothing.
    if (open.count < MAX_ALERT_EVENTS && this.addEvent.run(open.id, e.auditID, e.receivedAt, a.rule).changes === 0) return;
    const identityValues = withIdentity(open, { actor, effectiveUser, person: a.person });
    this.extend.run(e.receivedAt, e.receivedAt, identityValues, open.id);
    this.joined.set(cacheKey, { ...open, count: open.count + 1, identity_values: identityValues, first_at: Math.min(open.first_at, e.receivedAt), last_at: Math.max(open.last_at, e.receivedAt) });
  }
}

/*
 * Every write of the alerts table is here: findings joining or opening alerts (AlertStore), the
 * watch's pipeline alerts, and an analyst's acknowledging or resolving.
 */

/**
 * Acknowledges or resolves an alert, recording who and when. An acknowledged alert no longer
 * takes new findings (they open a new one); a resolved one cannot change again.
 */
export function setAlertStatus(db: Database, id: number, status: 'acknowledged' | 'resolved', by: string, atMicros: number): AlertRow | { problem: 'missing' | 'resolved' | 'acknowledged' } {
  return db.transaction(() => {
    const current = db.prepare('SELECT status FROM alerts WHERE id = ?').pluck().get(id) as string | undefined;
    if (current === undefined) return { problem: 'missing' as const };
    if (current === 'resolved') return { problem: 'resolved' as const };
    if (status === 'acknowledged') {
      if (current === 'acknowledged') return { problem: 'acknowledged' as const };
      acknowledgeAlert(db, id, by, atMicros);
    } else {
      db.prepare("UPDATE alerts SET status = 'resolved', resolved_by = ?, resolved_at = ? WHERE id = ?").run(by, atMicros, id);
    }
    return getAlerts(db, [id])[0]!;
  }).immediate();
}

/** Acknowledges an open alert (a no-op for one already acknowledged or resolved). */
export function acknowledgeAlert(db: Database, id: number, by: string, atMicros: number): void {
  db.prepare("UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = ? WHERE id = ? AND status = 'open'").run(by, atMicros, id);
}

/** Opens a critical alert of kubetrail's own (an audit pipeline gap): no actor but kubetrail, no events. Returns its id. */
export function raisePipelineAlert(db: Database, a: { rule: string; dedupeKey: string; cluster: string; firstAt: number; lastAt: number; message: string; pci: readonly string[] }): number {
  const info = db
    .prepare(`INSERT INTO alerts (rule, severity, dedupe_key, cluster, first_at, last_at, actor, effective_user, person, count, message, pci, checkout_id, raised_at, identity)
      VALUES (?, 'critical', ?, ?, ?, ?, 'kubetrail', 'kubetrail', NULL, 0, ?, ?, NULL, ?, NULL)`)
    .run(a.rule, a.dedupeKey, a.cluster, a.firstAt, a.lastAt, a.message, JSON.stringify(a.pci), a.lastAt);
  return Number(info.lastInsertRowid);
}
