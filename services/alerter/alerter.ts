import { nowMicros, type Clock } from '../../shared/clock.js';
import { SEVERITIES, type Severity } from '../../shared/detect/types.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import type { OpenAlertQueue } from '../../shared/storage/port.js';
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
/** How long a claimed batch is this alerter's (another alerter of the store takes it after). */
const LEASE_MS = 120_000;

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
  private constructor(private readonly store: OpenAlertQueue, private readonly sinks: Map<string, { sink: Sink; minSeverity: number }>, private readonly options: AlerterOptions) {}

  /** Starts delivering from `store`'s queue, which it closes when it stops. */
  static async start(store: OpenAlertQueue, options: AlerterOptions): Promise<Alerter> {
    const names = new Set<string>();
    for (const s of options.sinks) {
      if (names.has(s.name)) throw new Error(`alerts.sinks: the name '${s.name}' is used twice`);
      names.add(s.name);
    }
    const sinks = new Map<string, { sink: Sink; minSeverity: number }>();
    for (const s of options.sinks) sinks.set(s.name, { sink: await createSink(s), minSeverity: SEVERITIES.indexOf(s.minSeverity ?? 'low') });
    const alerter = new Alerter(store, sinks, options);
    alerter.schedule(0);
    options.log.info({ sinks: [...names] }, 'delivering alerts');
    return alerter;
  }

  /** Runs one round now (tests, and the first round): enqueue new alerts, deliver what is due. */
  async tick(now = this.options.clock()): Promise<void> {
    await this.enqueue(now);
    await this.deliverDue(now);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    for (const { sink } of this.sinks.values()) await sink.close().catch(() => undefined);
    await this.store.close();
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
  private enqueue(now: number): Promise<void> {
    const sinks = [...this.sinks].map(([name, { minSeverity }]) => ({ name, severities: SEVERITIES.slice(minSeverity) }));
    return this.store.queue.enqueue(sinks, now * 1000);
  }

  private async deliverDue(now: number): Promise<void> {
    await Promise.all(
      [...this.sinks].map(async ([name, { sink }]) => {
        const { queue, alerts: book } = this.store;
        const due = await queue.claim(name, now * 1000, BATCH, (now + LEASE_MS) * 1000);
        if (due.length === 0) return;
        const alerts = await book.get(due.map((d) => d.alertId));
        try {
          await sink.send(alerts);
          await queue.delivered(name, due, nowMicros(this.options.clock));
          this.options.metrics?.alertDeliveries(name, 'delivered', due.length);
        } catch (err) {
          const attempts = Math.max(...due.map((d) => d.attempts)) + 1;
          const wait = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (attempts - 1));
          await queue.failed(name, due, (now + wait) * 1000, errorMessage(err));
          this.options.metrics?.alertDeliveries(name, 'failed', due.length);
          this.options.log.warn({ sink: name, alerts: due.length, attempts, retryInMs: wait, err: errorMessage(err) }, 'alert delivery failed; will retry');
        }
      }),
    );
  }
}
