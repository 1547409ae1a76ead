import type { Database, Statement } from 'better-sqlite3';
import type { Clock } from '../../../clock.js';
import type { AlertQueue, DueDelivery, OpenAlertQueue } from '../../port.js';
import { openStore } from '../openStore.js';
import { sqliteQueryStore } from '../queryStore.js';

/**
 * The alerter's queue in the store (alert_deliveries): each alert at or above a sink's severity
 * gets a pending delivery to it, found again after a restart, retried until the sink takes it.
 * Times in microseconds.
 */
export class AlertDeliveries implements AlertQueue {
  private readonly sql: Record<'cursorOf' | 'setCursor' | 'fresh' | 'add' | 'due' | 'done' | 'retry', Statement>;

  constructor(private readonly db: Database) {
    this.sql = {
      cursorOf: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setCursor: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      fresh: db.prepare('SELECT id, severity FROM alerts WHERE id > ? ORDER BY id LIMIT 10000'),
      add: db.prepare("INSERT OR IGNORE INTO alert_deliveries (alert_id, sink, state, next_at) VALUES (?, ?, 'pending', ?)"),
      due: db.prepare("SELECT alert_id AS alertId, attempts FROM alert_deliveries WHERE state = 'pending' AND sink = ? AND next_at <= ? ORDER BY alert_id LIMIT ?"),
      done: db.prepare("UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE alert_id = ? AND sink = ?"),
      retry: db.prepare('UPDATE alert_deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE alert_id = ? AND sink = ?'),
    };
  }

  /**
   * Gives every alert stored since each sink's cursor a pending delivery to the sinks that
   * want its severity, and moves the cursors past them, in one transaction (ids are assigned
   * in commit order by the one writer).
   */
  async enqueue(sinks: readonly { name: string; severities: readonly string[] }[], at: number): Promise<void> {
    const { cursorOf, setCursor, fresh, add } = this.sql;
    this.db.transaction(() => {
      for (const { name, severities } of sinks) {
        const key = `alerter_cursor:${name}`;
        let cursor = Number(cursorOf.get(key) ?? 0);
        for (const a of fresh.all(cursor) as { id: number; severity: string }[]) {
          if (severities.includes(a.severity)) add.run(a.id, name, at);
          cursor = a.id;
        }
        setCursor.run(key, String(cursor));
      }
    }).immediate();
  }

  /** The store has one alerter: no lease is needed. */
  async claim(sink: string, at: number, limit: number): Promise<DueDelivery[]> {
    return this.sql.due.all(sink, at, limit) as DueDelivery[];
  }

  async delivered(sink: string, deliveries: readonly DueDelivery[], at: number): Promise<void> {
    this.db.transaction(() => deliveries.forEach((d) => this.sql.done.run(at, d.alertId, sink))).immediate();
  }

  async failed(sink: string, deliveries: readonly DueDelivery[], nextAt: number, error: string): Promise<void> {
    this.db.transaction(() => deliveries.forEach((d) => this.sql.retry.run(nextAt, error, d.alertId, sink))).immediate();
  }
}

/** The alerter's queue on the SQLite store at `path`, on a connection of its own. */
export function openSqliteAlertQueue(path: string, clock: Clock): OpenAlertQueue {
  const store = openStore(path, { clock });
  return { queue: new AlertDeliveries(store.db), alerts: sqliteQueryStore(store.db).alerts, close: () => store.close() };
}
