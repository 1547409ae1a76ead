import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The counts of one stored batch, as every source reports them. */
export interface IngestCounts {
  accepted: number;
  duplicates: number;
  quarantined: number;
}

/** kubetrail's Prometheus metrics, in a registry of their own (served at GET /metrics). */
export interface Metrics {
  registry: Registry;
  /** A batch from `source` (webhook, kafka, relay) has been stored or relayed. */
  ingested(source: string, counts: IngestCounts): void;
  /** How far the consumer is behind the end of a partition, in messages. */
  kafkaLag(topic: string, partition: number, lag: number): void;
  /** Messages sent to the dead-letter topic. */
  deadLettered(topic: string, n: number): void;
  /** A partition's consumption is paused (the store is behind) or running again. */
  kafkaPaused(topic: string, partition: number, paused: boolean): void;
  /** Alerts a sink took, or failed to take (to be retried). */
  alertDeliveries(sink: string, outcome: 'delivered' | 'failed', n: number): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kubetrail_' });
  const events = new Counter({
    name: 'kubetrail_ingest_events_total',
    help: 'Audit events received, by source and outcome (accepted, duplicate, quarantined).',
    labelNames: ['source', 'outcome'],
    registers: [registry],
  });
  const batches = new Counter({ name: 'kubetrail_ingest_batches_total', help: 'Batches stored or relayed, by source.', labelNames: ['source'], registers: [registry] });
  const lag = new Gauge({
    name: 'kubetrail_kafka_consumer_lag',
    help: 'Messages between the last one stored and the end of the partition.',
    labelNames: ['topic', 'partition'],
    registers: [registry],
  });
  const dead = new Counter({ name: 'kubetrail_kafka_dead_lettered_total', help: 'Messages sent to the dead-letter topic.', labelNames: ['topic'], registers: [registry] });
  const paused = new Gauge({
    name: 'kubetrail_kafka_partition_paused',
    help: '1 while consuming a partition is paused because the store is behind, else 0.',
    labelNames: ['topic', 'partition'],
    registers: [registry],
  });
  const pauses = new Counter({ name: 'kubetrail_kafka_pauses_total', help: 'Times consuming a partition was paused because the store was behind.', labelNames: ['topic'], registers: [registry] });
  const deliveries = new Counter({
    name: 'kubetrail_alert_deliveries_total',
    help: 'Alerts sent to each sink: delivered, or failed and to be retried.',
    labelNames: ['sink', 'outcome'],
    registers: [registry],
  });
  return {
    registry,
    ingested: (source, c) => {
      batches.inc({ source });
      if (c.accepted) events.inc({ source, outcome: 'accepted' }, c.accepted);
      if (c.duplicates) events.inc({ source, outcome: 'duplicate' }, c.duplicates);
      if (c.quarantined) events.inc({ source, outcome: 'quarantined' }, c.quarantined);
    },
    kafkaLag: (topic, partition, n) => lag.set({ topic, partition: String(partition) }, n),
    deadLettered: (topic, n) => dead.inc({ topic }, n),
    alertDeliveries: (sink, outcome, n) => deliveries.inc({ sink, outcome }, n),
    kafkaPaused: (topic, partition, isPaused) => {
      paused.set({ topic, partition: String(partition) }, isPaused ? 1 : 0);
      if (isPaused) pauses.inc({ topic });
    },
  };
}

/** The store's hash-chain head as gauges read at each scrape: its length, and its hash as a label. */
export function watchChainHead(registry: Registry, read: () => { seq: number; hash: string } | null): void {
  new Gauge({
    name: 'kubetrail_store_chain_length',
    help: 'Links in the store hash chain (kubetrail verify recomputes it).',
    registers: [registry],
    collect() {
      this.set(read()?.seq ?? 0);
    },
  });
  new Gauge({
    name: 'kubetrail_store_chain_head_info',
    help: 'The newest link of the store hash chain, as the label hash; record it elsewhere to detect a rewritten chain.',
    labelNames: ['seq', 'hash'],
    registers: [registry],
    collect() {
      this.reset();
      const head = read();
      if (head) this.set({ seq: String(head.seq), hash: head.hash }, 1);
    },
  });
}
