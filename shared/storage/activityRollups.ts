import type { Database, Statement } from 'better-sqlite3';
import { utcHour } from '../calendar.js';

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
  private readonly upsert: Statement;

  constructor(db: Database) {
    this.upsert = db.prepare(`INSERT INTO activity_hourly (principal_id, hour, verb_id, decision, count) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET count = count + excluded.count`);
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
  }

  reset(): void {
    this.sums = new Map();
  }
}
