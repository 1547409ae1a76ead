import type { Database, Statement } from 'better-sqlite3';
import { nowMicros, type Clock } from '../../../clock.js';
import { ruleById } from '../../../detect/engine.js';
import type { AlertRuleId, RuleId, Severity } from '../../../detect/types.js';
import { WorkloadCauses } from '../queries/workloadCause.js';
import { getAlerts, type AlertRow } from '../queries/alertQuery.js';

/** A finding as it crosses to the writer thread, with the index of its event in the batch. */
export type FindingRow = [
  index: number,
  rule: RuleId,
  severity: Severity,
  key: string,
  message: string,
  actor: string,
  effectiveUser: string,
  identity: string,
  owner: string | null,
];

/** The auditIDs kept per alert; the count goes on beyond them. */
export const MAX_ALERT_EVENTS = 1000;

const BREAK_GLASS_PCI: Record<'attributed-break-glass' | 'unattributed-break-glass', string[]> = {
  'attributed-break-glass': ['8.2.2', '10.2.1.2', '8.2.7', '10.4.1'],
  'unattributed-break-glass': ['8.2.2', '8.2.1', '10.2.2', '8.6.1', '10.4.3'],
};

interface Checkout {
  id: number;
  person: string;
  approved_by: string;
  ticket: string;
}

/**
 * Turns findings into alerts, on the writer thread inside the events' transaction: a finding
 * joins the open alert of its rule, key and cluster whose time span it falls within the
 * throttle window of, or opens a new one. A request counts once per alert, whichever of its
 * stages raised the finding (while the alert holds under MAX_ALERT_EVENTS auditIDs).
 */
interface OpenAlert {
  id: number;
  count: number;
  actor: string;
  effective_user: string;
  person: string | null;
  identity_values: string | null;
}

/** The distinct identity values of an alert's requests, where they differ (alerts.identity_values). */
export interface IdentityValues {
  actor?: string[];
  effectiveUser?: string[];
  person?: (string | null)[];
  /** Fields with more distinct values than MAX_IDENTITY_VALUES. */
  more?: ('actor' | 'effectiveUser' | 'person')[];
}

export const MAX_IDENTITY_VALUES = 10;

/** alerts.identity_values once a request with these identity values joins `open` (unchanged JSON when they are known). */
export function withIdentity(open: OpenAlert, next: { actor: string; effectiveUser: string; person: string | null }): string | null {
  const values = (open.identity_values ? JSON.parse(open.identity_values) : {}) as IdentityValues;
  const own = { actor: open.actor, effectiveUser: open.effective_user, person: open.person };
  let changed = false;
  for (const field of ['actor', 'effectiveUser', 'person'] as const) {
    const list: (string | null)[] = values[field] ?? [own[field]];
    if (list.includes(next[field])) continue;
    if (list.length < MAX_IDENTITY_VALUES) {
      list.push(next[field]);
      (values as Record<string, unknown>)[field] = list;
    } else if (!values.more?.includes(field)) (values.more ??= []).push(field);
    else continue;
    changed = true;
  }
  return changed ? JSON.stringify(values) : open.identity_values;
}

export class AlertStore {
  private readonly findOpen: Statement;
  private readonly insert: Statement;
  private readonly extend: Statement;
  private readonly addEvent: Statement;
  private readonly personOf: Statement;
  private readonly checkoutAt: Statement;
  private readonly causes: WorkloadCauses;

  constructor(db: Database, private readonly throttleMicros: number, private readonly clock: Clock) {
    this.findOpen = db.prepare(`SELECT id, count, actor, effective_user, person, identity_values FROM alerts WHERE status = 'open' AND rule = ? AND dedupe_key = ? AND cluster = ?
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

  /** Records one finding of a stored event (`userId`: its principal). */
  record(f: FindingRow, e: { cluster: string; receivedAt: number; auditID: string; userId: number }): void {
    const [, ruleId, severity, key, message, actor, effectiveUser, identity, owner] = f;
    let rule: AlertRuleId;
    let person = (this.personOf.get(e.userId) as string | null | undefined) ?? null;
    let checkout: Checkout | undefined;
    let text = message;
    let sev = severity;
    let pci: readonly string[];
    if (ruleId === 'break-glass-use') {
      checkout = this.checkoutAt.get(key, e.receivedAt, e.receivedAt) as Checkout | undefined;
      rule = checkout ? 'attributed-break-glass' : 'unattributed-break-glass';
      pci = BREAK_GLASS_PCI[rule];
      if (checkout) {
        person = checkout.person;
        text = `${message} — checkout #${checkout.id} by ${checkout.person}, approved by ${checkout.approved_by}, ticket ${checkout.ticket}`;
        sev = 'medium';
      } else text = `${message} — outside any break-glass checkout`;
    } else {
      rule = ruleId;
      pci = ruleById(ruleId).pci;
    }
    // A controller made it: name the person whose change it carried out.
    const cause = owner ? this.causes.find(owner, e.cluster, e.receivedAt) : null;
    if (cause) {
      text = `${text} — caused by ${cause.username}${cause.person ? ` (${cause.person})` : ''}: ${cause.verb} ${cause.object} (auditID ${cause.auditID})`;
      person ??= cause.person;
    }
    // One alert per person behind a shared account: two people's use of kubernetes-admin are two alerts.
    const dedupeKey = checkout ? `${key} checkout ${checkout.id}` : person ? `${key} person ${person}` : key;
    const open = this.findOpen.get(rule, dedupeKey, e.cluster, e.receivedAt - this.throttleMicros, e.receivedAt + this.throttleMicros) as OpenAlert | undefined;
    if (!open) {
      const info = this.insert.run(rule, sev, dedupeKey, e.cluster, e.receivedAt, e.receivedAt, actor, effectiveUser, person, text, JSON.stringify(pci), checkout?.id ?? null, nowMicros(this.clock), identity);
      this.addEvent.run(info.lastInsertRowid, e.auditID, e.receivedAt, rule);
      return;
    }
    // Below the cap every counted request has its auditID kept, so another stage of one
    // already counted adds nothing.
    if (open.count < MAX_ALERT_EVENTS && this.addEvent.run(open.id, e.auditID, e.receivedAt, rule).changes === 0) return;
    this.extend.run(e.receivedAt, e.receivedAt, withIdentity(open, { actor, effectiveUser, person }), open.id);
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
