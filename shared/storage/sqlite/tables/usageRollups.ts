import type { Database, Statement } from 'better-sqlite3';
import type { UserInfo } from '../../../audit/types.js';
import { atomParams, attributeKey, checkKey, type AttributeKey } from '../../../rbac/usageAttributes.js';
import { impersonationChecks, rbacUser } from '../../../rbac/specialVerbs.js';
import { ActivityRollups } from './activityRollups.js';
import { utcDay } from '../../../calendar.js';

/**
 * Daily rollups of RBAC usage (migrations/0007_usage_rollups.sql): per day, cluster, subject,
 * request attributes, decision and reason, how many actions, first and last. Kept at ingest by
 * the writer, in the transaction that stores the events (so every writer, and a crash, leaves
 * them exact), and rebuilt from the events on demand.
 */

/** Principals and request attributes remembered at most (then forgotten and looked up again). */
const MEMO_ENTRIES = 50_000;
/** Events read at a time when rebuilding. */
const CHUNK_EVENTS = 20_000;

interface PrincipalInfo {
  /** rbac_subjects id; 0 when the principal has no username (RBAC never saw it). */
  subjectId: number;
  /** usage_atoms ids of the checks that impersonating it passed, made the first time it is (impersonationOf). */
  impersonation?: number[];
}

/** The day (since the epoch, UTC) of a time in microseconds. */
export const dayOf = utcDay;

type AuditKey = Buffer | Uint8Array | string;

/**
 * Sums of actions per rollup key (day, cluster, subject, request, decision, reason, synthetic),
 * in parallel typed arrays, found by request (atom) id and a chain of the sums of that request:
 * adding to a sum allocates nothing. It runs for every stored event on the writer thread, where
 * objects or string keys per sum cost the garbage collector more than the sums cost to make.
 */
class Sums {
  size = 0;
  /** Per atom id: the newest sum of that atom; `next` chains the older ones. */
  private readonly first = new Map<number, number>();
  private next = new Int32Array(1024);
  private ints = new Int32Array(7 * 1024);
  private times = new Float64Array(3 * 1024);
  /** First and last auditID of each sum: 16 bytes each for a UUID, else in `textAudits`. */
  private audits = new Uint8Array(32 * 1024);
  private readonly textAudits = new Map<number, string>();

  private setAudit(slot: number, key: AuditKey): void {
    if (typeof key === 'string') this.textAudits.set(slot, key);
    else {
      if (this.textAudits.size > 0) this.textAudits.delete(slot);
      this.audits.set(key, slot * 16);
    }
  }

  private audit(slot: number): Buffer | string {
    return this.textAudits.get(slot) ?? Buffer.from(this.audits.subarray(slot * 16, slot * 16 + 16));
  }

  add(day: number, cluster: number, subject: number, atom: number, decision: number, reason: number, synthetic: number, count: number, firstAt: number, lastAt: number, firstAudit: AuditKey, lastAudit: AuditKey): void {
    const head = this.first.get(atom);
    const ints = this.ints;
    for (let i = head ?? -1; i >= 0; i = this.next[i]!) {
      const o = i * 7;
      if (ints[o] !== day || ints[o + 1] !== cluster || ints[o + 2] !== subject || ints[o + 4] !== decision || ints[o + 5] !== reason || ints[o + 6] !== synthetic) continue;
      const t = i * 3;
      this.times[t] = this.times[t]! + count;
      if (firstAt < this.times[t + 1]!) {
        this.times[t + 1] = firstAt;
        this.setAudit(i * 2, firstAudit);
      }
      if (lastAt >= this.times[t + 2]!) {
        this.times[t + 2] = lastAt;
        this.setAudit(i * 2 + 1, lastAudit);
      }
      return;
    }
    const n = this.size++;
    if (n >= this.next.length) this.grow();
    const o = n * 7;
    this.ints[o] = day;
    this.ints[o + 1] = cluster;
    this.ints[o + 2] = subject;
    this.ints[o + 3] = atom;
    this.ints[o + 4] = decision;
    this.ints[o + 5] = reason;
    this.ints[o + 6] = synthetic;
    this.times[n * 3] = count;
    this.times[n * 3 + 1] = firstAt;
    this.times[n * 3 + 2] = lastAt;
    this.setAudit(n * 2, firstAudit);
    this.setAudit(n * 2 + 1, lastAudit);
    this.next[n] = head ?? -1;
    this.first.set(atom, n);
  }

  /** The upsert parameters of sum i. */
  params(i: number): unknown[] {
    const o = i * 7;
    const k = this.ints;
    return [k[o], k[o + 1], k[o + 2], k[o + 3], k[o + 4], k[o + 5], k[o + 6], this.times[i * 3], this.times[i * 3 + 1], this.times[i * 3 + 2], this.audit(i * 2), this.audit(i * 2 + 1)];
  }

  private grow(): void {
    const next = new Int32Array(this.next.length * 2);
    next.set(this.next);
    this.next = next;
    const ints = new Int32Array(this.ints.length * 2);
    ints.set(this.ints);
    this.ints = ints;
    const times = new Float64Array(this.times.length * 2);
    times.set(this.times);
    this.times = times;
    const audits = new Uint8Array(this.audits.length * 2);
    audits.set(this.audits);
    this.audits = audits;
  }
}

/**
 * Sums the actions of one transaction and writes them as upserts: add() per action (or group
 * of actions), write() before the transaction commits, then committed() — or rolledBack(), which
 * also forgets the subject and request ids the transaction made.
 */
export class UsageRollups {
  private readonly principals = new Map<number, PrincipalInfo>();
  private readonly atoms = new Map<AttributeKey, number>();
  private sums = new Sums();
  private readonly activity: ActivityRollups;
  private readonly selectPrincipal: Statement;
  private readonly insertSubject: Statement;
  private readonly selectSubject: Statement;
  private readonly insertAtom: Statement;
  private readonly selectAtom: Statement;
  private readonly upsert: Statement;

  constructor(db: Database) {
    this.activity = new ActivityRollups(db);
    this.selectPrincipal = db.prepare('SELECT json FROM principals WHERE id = ?').pluck();
    this.insertSubject = db.prepare('INSERT OR IGNORE INTO rbac_subjects (username, groups) VALUES (?, ?)');
    this.selectSubject = db.prepare('SELECT id FROM rbac_subjects WHERE username = ? AND groups = ?').pluck();
    this.insertAtom = db.prepare('INSERT OR IGNORE INTO usage_atoms (verb, api_group, resource, subresource, namespace, name, path) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.selectAtom = db.prepare('SELECT id FROM usage_atoms WHERE verb = ? AND api_group = ? AND resource = ? AND subresource = ? AND namespace = ? AND name = ? AND path = ?').pluck();
    this.upsert = db.prepare(`INSERT INTO usage_daily
      (day, cluster_id, subject_id, atom_id, decision, reason_id, synthetic, count, first_at, last_at, first_audit, last_audit)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET
        count = count + excluded.count,
        first_audit = CASE WHEN excluded.first_at < first_at THEN excluded.first_audit ELSE first_audit END,
        first_at = min(first_at, excluded.first_at),
        last_audit = CASE WHEN excluded.last_at >= last_at THEN excluded.last_audit ELSE last_audit END,
        last_at = max(last_at, excluded.last_at)`);
  }

  /** Counts `count` actions of one day, cluster, user (impersonated, else the actor), request, decision and reason. */
  add(
    day: number, clusterId: number, actorId: number, impersonatedId: number | null, atomId: number, decision: number, reasonId: number | null,
    count: number, firstAt: number, lastAt: number, firstAudit: AuditKey, lastAudit: AuditKey,
  ): void {
    const effective = this.principal(impersonatedId ?? actorId);
    if (effective.subjectId === 0) return;
    const reason = reasonId ?? 0;
    this.sums.add(day, clusterId, effective.subjectId, atomId, decision, reason, 0, count, firstAt, lastAt, firstAudit, lastAudit);
    if (impersonatedId === null) return;
    // The impersonation checks passed (else there would be no impersonatedUser): the actor's.
    const actor = this.principal(actorId);
    if (actor.subjectId === 0) return;
    for (const check of this.impersonationOf(impersonatedId, effective)) {
      this.sums.add(day, clusterId, actor.subjectId, check, 1, 0, 1, count, firstAt, lastAt, firstAudit, lastAudit);
    }
  }

  /** Counts one stored event in its actor's requests (ActivityRollups.request). */
  addRequest(actorId: number, receivedAt: number, newRequest: boolean, newlyDenied: boolean): void {
    this.activity.request(actorId, receivedAt, newRequest, newlyDenied);
  }

  /** Counts one action in its actor's hourly activity (activityRollups.ts); called where add() is, for each action. */
  addActivity(actorId: number, receivedAt: number, verbId: number, decision: number): void {
    this.activity.add(actorId, receivedAt, verbId, decision);
  }

  /** The usage_atoms id of attributes, written in the caller's transaction when new. */
  atomId(key: AttributeKey): number {
    let id = this.atoms.get(key);
    if (id === undefined) {
      const params = atomParams(key);
      this.insertAtom.run(...params);
      id = this.selectAtom.get(...params) as number;
      if (this.atoms.size >= MEMO_ENTRIES) this.atoms.clear();
      this.atoms.set(key, id);
    }
    return id;
  }

  /** Writes the sums, inside the caller's transaction. */
  write(): void {
    for (let i = 0; i < this.sums.size; i++) this.upsert.run(...this.sums.params(i));
    this.activity.write();
  }

  /** The transaction committed: its sums are written. */
  committed(): void {
    this.sums = new Sums();
    this.activity.reset();
  }

  /** The transaction rolled back: forget its sums and the ids it made. */
  rolledBack(): void {
    this.sums = new Sums();
    this.activity.reset();
    this.principals.clear();
    this.atoms.clear();
  }

  /**
   * The usage_atoms ids of the checks that impersonating this principal passed. Made only for
   * principals that are impersonated: a bound token's extras make each check unique to it, and
   * most principals (one per token) never are.
   */
  private impersonationOf(id: number, p: PrincipalInfo): number[] {
    p.impersonation ??= impersonationChecks(this.userOf(id)).map((c) => this.atomId(checkKey(c)));
    return p.impersonation;
  }

  private userOf(id: number): UserInfo {
    try {
      return JSON.parse(this.selectPrincipal.get(id) as string) as UserInfo;
    } catch {
      // A principal that is not a JSON object has no username: RBAC never saw it.
      return {};
    }
  }

  private principal(id: number): PrincipalInfo {
    let p = this.principals.get(id);
    if (p) return p;
    const rbac = rbacUser(this.userOf(id));
    let subjectId = 0;
    if (rbac.name) {
      const groups = JSON.stringify(rbac.groups);
      this.insertSubject.run(rbac.name, groups);
      subjectId = this.selectSubject.get(rbac.name, groups) as number;
    }
    p = { subjectId };
    // Bound tokens make principals without end (one per token): memory stays flat.
    if (this.principals.size >= MEMO_ENTRIES) this.principals.clear();
    this.principals.set(id, p);
    return p;
  }
}

/** A stored event as the rollups need it (eventUsageSelect). */
type EventUsageRow = [
  id: number, receivedAt: number, auditKey: Buffer | string, clusterId: number, verb: string, verbId: number, userId: number, impersonatedId: number | null,
  decision: number, reasonId: number | null, apiGroup: string | null, resource: string | null, subresource: string | null,
  namespace: string | null, name: string | null, storedPath: string | null, query: string | null,
];

/** The stages of stored events that count as use (usageAttributes.ts countsAsUse), `where` and `order` added. */
function eventUsageSelect(where: string, order: string): string {
  return `SELECT e.id, e.received_at, e.audit_id, e.cluster_id, v.verb, e.verb_id, e.user_id, e.impersonated_id, e.decision, e.reason_id,
      r.api_group, r.resource, r.subresource, o.namespace, o.name, p.value AS path, e.query
    FROM events e
    JOIN verbs v ON v.id = e.verb_id
    LEFT JOIN api_resources r ON r.id = e.resource_id
    LEFT JOIN objects o ON o.id = e.object_id
    LEFT JOIN strings p ON p.id = e.path_id
    WHERE ${where} AND e.stage BETWEEN 1 AND 3 ${order}`;
}

/** Counts one stored event as one action. */
function countEvent(rollups: UsageRollups, row: EventUsageRow): void {
  const [, receivedAt, auditKey, clusterId, verb, verbId, userId, impersonatedId, decision, reasonId, apiGroup, resource, subresource, namespace, name, storedPath, query] = row;
  const ref = resource === null ? null : { apiGroup: apiGroup!, resource, subresource: subresource ?? '', namespace: namespace ?? '', name: name ?? '' };
  // The stored path is null when it is the one the objectRef implies.
  const atomId = rollups.atomId(attributeKey(verb, ref, storedPath, query));
  rollups.add(dayOf(receivedAt), clusterId, userId, impersonatedId, atomId, decision, reasonId, 1, receivedAt, receivedAt, auditKey, auditKey);
  rollups.addActivity(userId, receivedAt, verbId, decision);
}

/**
 * Rebuilds every rollup from the stored events, in one transaction: for rollups lost, made by
 * an older kubetrail, or of actions stored before rollups were kept. Returns the actions counted.
 */
export function rebuildUsageRollups(db: Database): { actions: number; rows: number } {
  const rollups = new UsageRollups(db);
  // Read in chunks of whole request times (a statement cannot be read while the connection
  // writes); the stages of one action share its time, so no action is split.
  const nextTime = db.prepare('SELECT received_at FROM events WHERE received_at > ? ORDER BY received_at LIMIT 1 OFFSET ?').pluck();
  const chunk = db.prepare(eventUsageSelect('e.received_at > ? AND e.received_at <= ?', 'ORDER BY e.received_at, e.audit_id, e.stage')).raw();
  return db.transaction(() => {
    db.prepare('DELETE FROM usage_daily').run();
    db.prepare('DELETE FROM activity_hourly').run();
    let actions = 0;
    let from = -Infinity;
    for (;;) {
      const to = (nextTime.get(from, CHUNK_EVENTS) as number | undefined) ?? Infinity;
      // Stages of one action are adjacent in this order: count the first of each (cluster, auditID).
      let group = '';
      const counted = new Set<number>();
      for (const row of chunk.all(from, to) as EventUsageRow[]) {
        const [, receivedAt, auditKey, clusterId] = row;
        const g = `${receivedAt}\0${typeof auditKey === 'string' ? auditKey : auditKey.toString('hex')}`;
        if (g !== group) {
          group = g;
          counted.clear();
        }
        if (counted.has(clusterId)) continue;
        counted.add(clusterId);
        countEvent(rollups, row);
        actions++;
      }
      // Written chunk by chunk: the transaction is the rebuild's, and commits or fails whole.
      rollups.write();
      rollups.committed();
      if (to === Infinity) break;
      from = to;
    }
    db.prepare("DELETE FROM meta WHERE key = 'usage_rollups_rebuild'").run();
    return { actions, rows: db.prepare('SELECT count(*) FROM usage_daily').pluck().get() as number };
  }).immediate();
}

/** Builds the rollups a migration left pending (actions stored before rollups were kept). */
export function finishPendingRollups(db: Database): void {
  if (db.prepare("SELECT 1 FROM meta WHERE key = 'usage_rollups_rebuild'").get()) rebuildUsageRollups(db);
}
