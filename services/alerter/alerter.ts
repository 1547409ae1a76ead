import { nowMicros, type Clock } from '../../shared/clock.js';
import type { Statement } from 'better-sqlite3';
import { SEVERITIES, type Severity } from '../../shared/detect/types.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import { getAlerts } from '../../shared/storage/alertQuery.js';
import { openStore, type Store } from '../../shared/storage/openStore.js';
import { createSink, type Sink, type SinkConfig } from './sinks.js';

export type AlerterSink = SinkConfig & { minSeverity?: Severity };

export interface AlerterOptions {
  sinks: readonly AlerterSink[];
  /** How often to look for new alerts and due retries. */
  pollMs: number;
  /** Retry backoff: base doubled per failed attempt, capped. */
  retryBaseMs: number;
  retryMaxMs: number;
  log: Logger;
  metrics?: Metrics;
  clock: Clock;
}

/** Alerts per sink per request: a backlog after an outage goes out in batches. */
const BATCH = 100;

/**
 * The alerter service: delivers stored alerts to each sink, and only delivers — ingest raises
 * and stores them. Every alert at or above a sink's minSeverity gets a delivery row for it;
 * a delivery that fails is retried with backoff, from the store, across restarts, until the
 * sink takes it. One sink failing holds up no other sink, and never ingest.
 */
export class Alerter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly sql: Record<'cursorOf' | 'setCursor' | 'fresh' | 'add' | 'due' | 'done' | 'retry', Statement>;

  private constructor(private readonly store: Store, private readonly sinks: Map<string, { sink: Sink; minSeverity: number }>, private readonly options: AlerterOptions) {
    const db = store.db;
    this.sql = {
      cursorOf: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setCursor: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      fresh: db.prepare('SELECT id, severity FROM alerts WHERE id > ? ORDER BY id LIMIT 10000'),
      add: db.prepare("INSERT OR IGNORE INTO alert_deliveries (alert_id, sink, state, next_at) VALUES (?, ?, 'pending', ?)"),
      due: db.prepare("SELECT alert_id, attempts FROM alert_deliveries WHERE state = 'pending' AND sink = ? AND next_at <= ? ORDER BY alert_id LIMIT ?"),
      done: db.prepare("UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE alert_id = ? AND sink = ?"),
      retry: db.prepare('UPDATE alert_deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE alert_id = ? AND sink = ?'),
    };
  }

  static async start(path: string, options: AlerterOptions): Promise<Alerter> {
    const names = new Set<string>();
    for (const s of options.sinks) {
      if (names.has(s.name)) throw new Error(`alerts.sinks: the name '${s.name}' is used twice`);
      names.add(s.name);
    }
    const store = openStore(path, { clock: options.clock });
    const sinks = new Map<string, { sink: Sink; minSeverity: number }>();
    for (const s of options.sinks) sinks.set(s.name, { sink: await createSink(s), minSeverity: SEVERITIES.indexOf(s.minSeverity ?? 'low') });
    const alerter = new Alerter(store, sinks, options);
    alerter.schedule(0);
    options.log.info({ sinks: [...names] }, 'delivering alerts');
    return alerter;
  }

  /** Runs one round now (tests, and the first round): enqueue new alerts, deliver what is due. */
  async tick(now = this.options.clock()): Promise<void> {
    this.enqueue(now);
    await this.deliverDue(now);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    for (const { sink } of this.sinks.values()) await sink.close().catch(() => undefined);
    this.store.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: unknown) => this.options.log.error({ err: errorMessage(err) }, 'alert delivery round failed'))
        .finally(() => this.schedule(this.options.pollMs));
    }, ms);
  }

  /** Gives every alert stored since a sink's cursor a pending delivery to that sink. */
  private enqueue(now: number): void {
    const { cursorOf, setCursor, fresh, add } = this.sql;
    this.store.db.transaction(() => {
      for (const [name, { minSeverity }] of this.sinks) {
        const key = `alerter_cursor:${name}`;
        let cursor = Number(cursorOf.get(key) ?? 0);
        for (const a of fresh.all(cursor) as { id: number; severity: Severity }[]) {
          if (SEVERITIES.indexOf(a.severity) >= minSeverity) add.run(a.id, name, now * 1000);
          cursor = a.id;
        }
        setCursor.run(key, String(cursor));
      }
    }).immediate();
  }

  private async deliverDue(now: number): Promise<void> {
    const db = this.store.db;
    const { due, done, retry } = this.sql;
    await Promise.all(
      [...this.sinks].map(async ([name, { sink }]) => {
        const rows = due.all(name, now * 1000, BATCH) as { alert_id: number; attempts: number }[];
        if (rows.length === 0) return;
        const alerts = getAlerts(db, rows.map((r) => r.alert_id));
        try {
          await sink.send(alerts);
          db.transaction(() => rows.forEach((r) => done.run(nowMicros(this.options.clock), r.alert_id, name))).immediate();
          this.options.metrics?.alertDeliveries(name, 'delivered', rows.length);
        } catch (err) {
          const attempts = Math.max(...rows.map((r) => r.attempts)) + 1;
          const wait = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (attempts - 1));
          db.transaction(() => rows.forEach((r) => retry.run((now + wait) * 1000, errorMessage(err), r.alert_id, name))).immediate();
          this.options.metrics?.alertDeliveries(name, 'failed', rows.length);
          this.options.log.warn({ sink: name, alerts: rows.length, attempts, retryInMs: wait, err: errorMessage(err) }, 'alert delivery failed; will retry');
        }
      }),
    );
  }
}
