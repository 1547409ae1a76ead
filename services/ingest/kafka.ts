import { Kafka, logLevel, type Consumer, type EachBatchPayload, type LogEntry, type Producer } from 'kafkajs';
import type { Config } from '../../shared/config.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import type { WriteBatch } from '../../shared/storage/prepareEvent.js';
import type { StoreWriter } from '../../shared/storage/storeWriter.js';
import { ingestBatch } from './ingestBatch.js';
import { parseMessageValue } from './kafkaMessage.js';

export interface KafkaConsumerOptions {
  writer: StoreWriter;
  kafka: Readonly<Config['kafka']>;
  defaultCluster: string;
  log: Logger;
  metrics?: Metrics;
}

export interface RunningConsumer {
  /** Finishes the batch in hand, commits its offsets and leaves the group. */
  stop(): Promise<void>;
  /** Counts since start: messages stored (or dead-lettered), events accepted, pauses because the store was behind. */
  stats(): ConsumerStats;
}

export interface ConsumerStats {
  messages: number;
  accepted: number;
  pauses: number;
}

/**
 * Fetch up to this much per partition (kafkajs default: 1 MiB, some 800 events): larger
 * batches mean fewer transactions and offset commits per event.
 */
const FETCH_BYTES_PER_PARTITION = 4 << 20;

/** While a batch is being stored, the group is told we are alive this often. */
const HEARTBEAT_WHILE_STORING_MS = 3000;

/** The header that names the cluster a message came from. */
export const CLUSTER_HEADER = 'cluster';
/** The header that says why a message was sent to the dead-letter topic. */
export const ERROR_HEADER = 'kubetrail-error';

/**
 * Consumes audit events from Kafka in a consumer group (a new group starts at the earliest
 * offset). Each fetched batch is stored in one transaction and only then are its offsets
 * committed: at-least-once delivery, made exactly-once by the store's duplicate key.
 * Messages that are not audit input go to the dead-letter topic, with the reason in a header,
 * and to the quarantine table.
 */
export async function startKafkaConsumer(opts: KafkaConsumerOptions): Promise<RunningConsumer> {
  const log = opts.log.child({ service: 'kafka' });
  const kafka = new Kafka({
    clientId: opts.kafka.clientId,
    brokers: [...opts.kafka.brokers],
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const fields = { namespace: entry.namespace, ...entry.log };
      if (entry.level <= logLevel.ERROR) log.error(fields, entry.log.message);
      else log.warn(fields, entry.log.message);
    },
  });
  const consumer: Consumer = kafka.consumer({ groupId: opts.kafka.group, allowAutoTopicCreation: true, maxBytesPerPartition: FETCH_BYTES_PER_PARTITION });
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  // Create the topics first: subscribing to a topic that auto-creation has not finished fails.
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...opts.kafka.topics, opts.kafka.deadLetterTopic].filter((t) => !existing.has(t));
    if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  await producer.connect();
  await consumer.connect();
  for (const topic of opts.kafka.topics) await consumer.subscribe({ topic, fromBeginning: true });

  const stats: ConsumerStats = { messages: 0, accepted: 0, pauses: 0 };
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Two batches at once keep both cores busy: one is parsed here while the writer thread
    // commits the other.
    partitionsConsumedConcurrently: opts.kafka.concurrentPartitions,
    eachBatch: async (payload: EachBatchPayload) => {
      if (pauseWhileStoreBehind(payload, opts, log)) {
        stats.pauses++;
        return;
      }
      const accepted = await storeBatch(payload, opts, producer, log);
      stats.messages += payload.batch.messages.length;
      stats.accepted += accepted;
    },
  });
  log.info({ brokers: opts.kafka.brokers, topics: opts.kafka.topics, group: opts.kafka.group }, 'consuming from Kafka');
  return {
    stop: async () => {
      // kafkajs lets the batch in hand finish (stored, then committed) before it leaves.
      await consumer.disconnect();
      await producer.disconnect();
      log.info({ group: opts.kafka.group, ...stats }, 'left the consumer group');
    },
    stats: () => ({ ...stats }),
  };
}

/**
 * When the store has `pauseAtBacklog` writes waiting (the webhook's, or other consumers'),
 * pauses this partition without taking the batch, and resumes it once the backlog is down to
 * half. Kafka keeps the messages meanwhile: the batch is fetched again from the last committed
 * offset. Returns whether it paused.
 */
function pauseWhileStoreBehind({ batch, pause }: EachBatchPayload, opts: KafkaConsumerOptions, log: Logger): boolean {
  const limit = opts.kafka.pauseAtBacklog;
  const backlog = opts.writer.backlog;
  if (batch.messages.length === 0 || backlog < limit) return false;
  const { topic, partition } = batch;
  const resume = pause();
  opts.metrics?.kafkaPaused(topic, partition, true);
  log.warn({ topic, partition, backlog }, 'the store is behind: consuming this partition is paused');
  void opts.writer.whenBacklogAtMost(Math.floor(limit / 2)).then(() => {
    resume();
    opts.metrics?.kafkaPaused(topic, partition, false);
    log.info({ topic, partition, backlog: opts.writer.backlog }, 'the store caught up: consuming this partition again');
  });
  return true;
}

async function storeBatch(
  { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload,
  opts: KafkaConsumerOptions,
  producer: Producer,
  log: Logger,
): Promise<number> {
  if (batch.messages.length === 0 || !isRunning() || isStale()) return 0;
  const byCluster = new Map<string, WriteBatch>();
  const dead: { value: Buffer | null; headers: Record<string, string>; key: Buffer | null }[] = [];
  for (const m of batch.messages) {
    const cluster = m.headers?.[CLUSTER_HEADER]?.toString() || opts.defaultCluster;
    let wb = byCluster.get(cluster);
    if (!wb) byCluster.set(cluster, (wb = { cluster, source: 'kafka', events: [], rejected: [] }));
    const position = `${batch.topic}/${batch.partition}@${m.offset}`;
    const outcome = parseMessageValue(m.value, position);
    if ('unusable' in outcome) {
      wb.rejected.push({ position, reason: outcome.unusable, raw: m.value ?? '' });
      dead.push({ value: m.value, key: m.key, headers: { [ERROR_HEADER]: outcome.unusable, [CLUSTER_HEADER]: cluster, 'kubetrail-source': position } });
      continue;
    }
    wb.events.push(...outcome.events);
    wb.rejected.push(...outcome.rejected);
  }
  if (dead.length > 0) {
    await producer.send({ topic: opts.kafka.deadLetterTopic, acks: -1, messages: dead });
    opts.metrics?.deadLettered(opts.kafka.deadLetterTopic, dead.length);
    log.warn({ topic: batch.topic, partition: batch.partition, messages: dead.length, first: dead[0]!.headers[ERROR_HEADER] }, 'messages sent to the dead-letter topic');
  }
  await heartbeat();
  // A slow commit (a busy disk, a long checkpoint) must not cost our place in the group.
  const beating = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_WHILE_STORING_MS);
  let results;
  try {
    results = await ingestBatch(opts.writer, [...byCluster.values()]);
  } catch (err) {
    log.error({ err: errorMessage(err), topic: batch.topic, partition: batch.partition }, 'cannot store a batch; it will be fetched again');
    throw err;
  } finally {
    clearInterval(beating);
  }
  // Only now, with the events committed to the store, is the batch done for the group.
  resolveOffset(batch.lastOffset());
  // The payload's commit, not consumer.commitOffsets: that one does nothing once the consumer
  // is stopping, and a batch stored during a SIGTERM must still be committed.
  const next = (BigInt(batch.lastOffset()) + 1n).toString();
  await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
  const totals = results.reduce((t, r) => ({ accepted: t.accepted + r.accepted, duplicates: t.duplicates + r.duplicates, quarantined: t.quarantined + r.quarantined }), { accepted: 0, duplicates: 0, quarantined: 0 });
  opts.metrics?.ingested('kafka', totals);
  opts.metrics?.kafkaLag(batch.topic, batch.partition, Number(batch.offsetLag()));
  return totals.accepted;
}
