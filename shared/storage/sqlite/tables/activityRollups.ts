import type { Database, Statement } from 'better-sqlite3';
import { utcHour } from '../../../calendar.js';

/** The hour (since 1970-01-01 UTC) of a time in microseconds. */
export const hourOf = utcHour;

/**
 * Actions per principal, hour, verb and decision (migrations/0009_query_paths.sql), summed in
 * memory for one transaction and written as upserts before it commits, like the usage rollups
 * (which decide what counts: see UsageRollups.add).
 */
export class ActivityRollups {
  /** principal id → (hour, verb, decision) packed → count. */
  private sums = new Map<number, Map<number, number>>();
  /** `principalId:hour` → requests of that principal in that hour (principal_activity). */
  private requests = new Map<string, RequestSums>();
  private readonly upsert: Statement;
  private readonly upsertRequests: Statement;

  constructor(db: Database) {
    this.upsert = db.prepare(`INSERT INTO activity_hourly (principal_id, hour, verb_id, decision, count) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET count = count + excluded.count`);
    this.upsertRequests = db.prepare(`INSERT INTO principal_activity (principal_id, hour, actions, denied, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET actions = actions + excluded.actions, denied = denied + excluded.denied,
        first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`);
  }

  /**
   * Counts one stored event in its actor's requests (principal_activity, which the identities
   * list reads): `newRequest` when no other stage of its request is stored, `newlyDenied` when
   * it is the first stage of its request stored with a forbid decision.
   */
  request(principalId: number, receivedAt: number, newRequest: boolean, newlyDenied: boolean): void {
    const hour = hourOf(receivedAt);
    const key = `${principalId}:${hour}`;
    let s = this.requests.get(key);
    if (!s) this.requests.set(key, (s = { principalId, hour, actions: 0, denied: 0, firstAt: receivedAt, lastAt: receivedAt }));
    if (newRequest) s.actions++;
    if (newlyDenied) s.denied++;
    if (receivedAt < s.firstAt) s.firstAt = receivedAt;
    if (receivedAt > s.lastAt) s.lastAt = receivedAt;
  }

  add(principalId: number, receivedAt: number, verbId: number, decision: number): void {
    // Verb ids and decisions are small: 2 bits of decision, then the verb, then the hour.
    const key = (hourOf(receivedAt) * 65_536 + verbId) * 4 + decision;
    let byKey = this.sums.get(principalId);
    if (!byKey) this.sums.set(principalId, (byKey = new Map()));
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
  }

  write(): void {
    for (const [principal, byKey] of this.sums) {
      for (const [key, count] of byKey) {
        const decision = key % 4;
        const rest = (key - decision) / 4;
        const verb = rest % 65_536;
        this.upsert.run(principal, (rest - verb) / 65_536, verb, decision, count);
      }
    }
    for (const r of this.requests.values()) this.upsertRequests.run(r.principalId, r.hour, r.actions, r.denied, r.firstAt, r.lastAt);
  }

  reset(): void {
    this.sums = new Map();
    this.requests = new Map();
  }
}

interface RequestSums {
  principalId: number;
  hour: number;
  actions: number;
  denied: number;
  firstAt: number;
  lastAt: number;
}
