import { createHash } from 'node:crypto';
import type pg from 'pg';
import { nowMicros, type Clock } from '../../clock.js';
import { identityOfStored, type Identity } from '../../identity/identity.js';
import type { Attribution } from '../../identity/identityMap.js';
import { findPgWorkloadCause } from './pgWorkloadCause.js';
import { MAX_ALERT_EVENTS, alertOfFinding, withIdentity, type AlertOfFinding, type CoveringCheckout, type FindingRow, type OpenAlert } from '../findingAlert.js';

/** The identity map, compiled (identityMap.ts). */
export type Attribute = (identity: Identity) => Attribution;

/** A finding of an event this transaction stored, with the user (as stored) who made the request. */
export interface StoredFinding {
  finding: FindingRow;
  cluster: string;
  receivedAt: number;
  auditID: string;
  principalJson: string | null;
}

/** An alert of one key as this transaction leaves it; id null until inserted. */
interface KeyAlert extends Omit<OpenAlert, 'id'> {
  id: number | null;
  first: number;
  last: number;
  changed: boolean;
  /** The auditIDs this transaction adds to it. */
  added: Map<string, number>;
  /** How it was opened, when by this transaction. */
  opened?: { a: AlertOfFinding; s: StoredFinding };
}

/**
 * Turns the findings of a transaction's stored events into alerts as SQLite's AlertStore does
 * (findingAlert.ts), in the same transaction. Writers share the alerts: each takes a
 * transaction-scoped advisory lock per alert key (rule, cluster, dedupe key) before it reads
 * that key's open alerts, so that a second writer waits for the first's commit and joins its
 * alert instead of opening another. The locks are taken all at once, in ascending order, after
 * the transaction's inserts: two writers never wait for each other in a circle.
 *
 * A key's findings are worked out in memory from its open alerts and their known auditIDs,
 * read once: a rule that fires on every request of a busy workload costs a few round trips a
 * transaction, not a few an event. A controller's finding names the person whose change it
 * carried out (pgWorkloadCause.ts).
 */
export async function recordPgFindings(client: pg.PoolClient, stored: StoredFinding[], options: { throttleMicros: number; clock: Clock; attribute: Attribute }): Promise<void> {
  if (stored.length === 0) return;
  const checkouts = await checkoutsOf(client, stored);
  const byKey = new Map<string, { a: AlertOfFinding; s: StoredFinding }[]>();
  for (const s of stored) {
    const [, rule, , account, , , , , owner] = s.finding;
    const checkout = rule === 'break-glass-use' ? (checkouts.get(account) ?? []).find((c) => c.from <= s.receivedAt && s.receivedAt < c.end) ?? null : null;
    const cause = owner ? await findPgWorkloadCause(client, owner, s.cluster, s.receivedAt, options.attribute) : null;
    const a = alertOfFinding(s.finding, { person: personOf(s.principalJson, options.attribute), checkout, cause });
    const key = lockKey(a, s.cluster);
    const list = byKey.get(key);
    if (list) list.push({ a, s });
    else byKey.set(key, [{ a, s }]);
  }
  const locks = [...byKey.keys()].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
  await client.query('SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS l (k)', [locks]);
  const raisedAt = nowMicros(options.clock);
  for (const key of locks) await recordKey(client, byKey.get(key)!, options.throttleMicros, raisedAt);
}

/** One key's findings, in order: each joins the open alert whose span it falls within the throttle of, or opens one. */
async function recordKey(client: pg.PoolClient, findings: { a: AlertOfFinding; s: StoredFinding }[], throttle: number, raisedAt: number): Promise<void> {
  const { a: first, s: firstStored } = findings[0]!;
  const times = findings.map((f) => f.s.receivedAt);
  const open = await client.query<{ id: string; count: string; first_at: string; last_at: string; actor: string; effective_user: string; person: string | null; identity_values: string | null }>(
    `SELECT id, count, first_at, last_at, actor, effective_user, person, identity_values FROM alerts
     WHERE status = 'open' AND rule = $1 AND cluster = $2 AND md5(dedupe_key) = md5($3) AND dedupe_key = $3 AND last_at >= $4 AND first_at <= $5`,
    [first.rule, firstStored.cluster, first.dedupeKey, Math.min(...times) - throttle, Math.max(...times) + throttle],
  );
  const alerts: KeyAlert[] = open.rows.map((r) => ({
    id: Number(r.id), count: Number(r.count), first: Number(r.first_at), last: Number(r.last_at),
    actor: r.actor, effective_user: r.effective_user, person: r.person, identity_values: r.identity_values, changed: false, added: new Map(),
  }));
  const known = new Set<string>();
  if (alerts.length > 0) {
    const r = await client.query<{ alert_id: string; audit_id: string }>('SELECT alert_id, audit_id FROM alert_events WHERE alert_id = ANY($1::bigint[]) AND audit_id = ANY($2::text[])', [
      alerts.map((x) => x.id), [...new Set(findings.map((f) => f.s.auditID))],
    ]);
    for (const e of r.rows) known.add(`${e.alert_id} ${e.audit_id}`);
  }
  for (const { a, s } of findings) {
    const t = s.receivedAt;
    const [, , , , , actor, effectiveUser] = s.finding;
    // The open alert of the key with the latest last request whose span is within the throttle.
    let join: KeyAlert | undefined;
    for (const x of alerts) if (x.last >= t - throttle && x.first <= t + throttle && (!join || x.last > join.last)) join = x;
    if (!join) {
      alerts.push({ id: null, count: 1, first: t, last: t, actor, effective_user: effectiveUser, person: a.person, identity_values: null, changed: false, added: new Map([[s.auditID, t]]), opened: { a, s } });
      continue;
    }
    // Below the cap every counted request has its auditID kept, so another stage of one
    // already counted adds nothing.
    if (join.count < MAX_ALERT_EVENTS) {
      if (join.added.has(s.auditID) || (join.id !== null && known.has(`${join.id} ${s.auditID}`))) continue;
      join.added.set(s.auditID, t);
    }
    join.count++;
    join.first = Math.min(join.first, t);
    join.last = Math.max(join.last, t);
    join.identity_values = withIdentity({ ...join, id: join.id ?? 0 }, { actor, effectiveUser, person: a.person });
    join.changed = true;
  }
  const events: [number, string, number][] = [];
  for (const x of alerts) {
    if (x.opened) {
      const { a, s } = x.opened;
      const created = await client.query<{ id: string }>(
        `INSERT INTO alerts (rule, severity, dedupe_key, cluster, first_at, last_at, actor, effective_user, person, count, message, pci, checkout_id, raised_at, identity, identity_values)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
        [a.rule, a.severity, a.dedupeKey, s.cluster, x.first, x.last, x.actor, x.effective_user, a.person, x.count, a.message, JSON.stringify(a.pci), a.checkoutId, raisedAt, s.finding[7], x.identity_values],
      );
      x.id = Number(created.rows[0]!.id);
    } else if (x.changed) {
      await client.query('UPDATE alerts SET count = $1, first_at = $2, last_at = $3, identity_values = $4 WHERE id = $5', [x.count, x.first, x.last, x.identity_values, x.id]);
    }
    for (const [auditID, receivedAt] of x.added) events.push([x.id!, auditID, receivedAt]);
  }
  if (events.length > 0) {
    await client.query('INSERT INTO alert_events (alert_id, audit_id, received_at, rule) SELECT id, audit_id, received_at, $4 FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS e (id, audit_id, received_at)', [
      events.map((e) => e[0]), events.map((e) => e[1]), events.map((e) => e[2]), first.rule,
    ]);
  }
}

/** The break-glass checkouts of the accounts the findings name, with the end of each window. */
async function checkoutsOf(client: pg.PoolClient, stored: StoredFinding[]): Promise<Map<string, (CoveringCheckout & { from: number; end: number })[]>> {
  const accounts = [...new Set(stored.filter((s) => s.finding[1] === 'break-glass-use').map((s) => s.finding[3]))];
  const found = new Map<string, (CoveringCheckout & { from: number; end: number })[]>();
  if (accounts.length === 0) return found;
  const r = await client.query<{ id: string; account: string; person: string; approved_by: string; ticket: string; from_at: string; end_at: string }>(
    `SELECT id, account, person, approved_by, ticket, from_at, least(until_at, coalesce(closed_at, until_at)) AS end_at
     FROM breakglass_checkouts WHERE account = ANY($1::text[]) ORDER BY from_at DESC`,
    [accounts],
  );
  for (const c of r.rows) {
    const list = found.get(c.account) ?? [];
    list.push({ id: Number(c.id), person: c.person, approvedBy: c.approved_by, ticket: c.ticket, from: Number(c.from_at), end: Number(c.end_at) });
    found.set(c.account, list);
  }
  return found;
}

function personOf(principalJson: string | null, attribute: Attribute): string | null {
  return principalJson === null ? null : attribute(identityOfStored(principalJson)).person ?? null;
}

/** The advisory lock of an alert key: the first 8 bytes of its SHA-256, as a signed bigint (text). */
function lockKey(a: AlertOfFinding, cluster: string): string {
  return createHash('sha256').update(`${a.rule}\u0000${cluster}\u0000${a.dedupeKey}`).digest().readBigInt64BE(0).toString();
}
