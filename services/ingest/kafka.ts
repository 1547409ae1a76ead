import { kafkaSecurity } from '../../shared/kafkaSecurity.js';
import { Kafka, logLevel, type Consumer, type EachBatchPayload, type LogEntry, type Producer } from 'kafkajs';
import type { Config } from '../../shared/config.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import type { IngestPipeline } from '../../shared/pipeline/ingestPipeline.js';
import type { WriteBatch } from '../../shared/pipeline/prepareEvent.js';
import type { RecordBatch } from '../../shared/storage/recordBatch.js';
import type { BatchStore } from '../../shared/storage/port.js';
import { parseMessageValue } from './kafkaMessage.js';

export interface KafkaConsumerOptions {
  /** What each event goes through before it is stored. */
  pipeline: IngestPipeline;
  writer: BatchStore;
  kafka: Readonly<Config['kafka']>;
  defaultCluster: string;
  log: Logger;
  metrics?: Metrics;
}

export interface RunningConsumer {
  /** Finishes the batch in hand, commits its offsets and leaves the group. */
  stop(): Promise<void>;
  /** Counts since start. */
  stats(): ConsumerStats;
}

export interface ConsumerStats {
  messages: number;
  accepted: number;
  pauses: number;
  /** Batches the store could not take, whose partition was rewound to fetch them again. */
  rewinds: number;
}

/**
 * Fetch up to this much per partition (the kafkajs default, some 800 events). The writer thread
 * commits batches that queue up together, so larger fetches buy no speed: measured on 1,000,000
 * events, 4 MiB gave the same rate with 40 MB more resident memory.
 */
const FETCH_BYTES_PER_PARTITION = 1 << 20;

/** Batches handed to the store and not yet committed: the next is parsed while one commits. */
const WRITES_IN_FLIGHT = 2;

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
    ...kafkaSecurity(opts.kafka),
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

  const stats: ConsumerStats = { messages: 0, accepted: 0, pauses: 0, rewinds: 0 };
  const pipeline = new WritePipeline(opts, log, stats);
  pipeline.seek = (topic, partition, offset) => consumer.seek({ topic, partition, offset });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: (payload: EachBatchPayload) => pipeline.take(payload, producer),
  });
  log.info({ brokers: opts.kafka.brokers, topics: opts.kafka.topics, group: opts.kafka.group }, 'consuming from Kafka');
  return {
    stop: async () => {
      // Take no more batches, store and commit those in hand, then leave the group.
      consumer.pause(opts.kafka.topics.map((topic) => ({ topic })));
      await pipeline.drain();
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

/**
 * Stores fetched batches with up to WRITES_IN_FLIGHT of them committing at once: a batch is
 * parsed and handed to the writer thread, and kafkajs goes on to fetch and parse the next
 * while it commits. A batch's offsets are committed to the group only after its events are
 * committed to the store (at-least-once; the store's duplicate key makes it exactly-once).
 * Writes complete in the order given, so offsets only move forward; after a failed write the
 * partition is sought back to it, and later writes of that partition commit no offsets.
 */
class WritePipeline {
  private readonly inFlight: Promise<void>[] = [];
  /** Bumped on a failed write: writes submitted before then must not commit their offsets. */
  private readonly epochs = new Map<string, number>();
  private taking: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: KafkaConsumerOptions, private readonly log: Logger, private readonly stats: ConsumerStats) {}

  take(payload: EachBatchPayload, producer: Producer): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const taking = this.takeBatch(payload, producer);
    this.taking = taking.catch(() => undefined);
    return taking;
  }

  /** Waits until every batch taken is stored and its offsets committed (or failed). */
  async drain(): Promise<void> {
    this.stopping = true;
    await this.taking;
    await Promise.allSettled(this.inFlight);
  }

  private async takeBatch(payload: EachBatchPayload, producer: Producer): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    if (pauseWhileStoreBehind(payload, this.opts, this.log)) {
      this.stats.pauses++;
      return;
    }
    // A slow store (a busy disk, a long checkpoint) must not cost our place in the group.
    const beating = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_WHILE_STORING_MS);
    try {
      while (this.inFlight.length >= WRITES_IN_FLIGHT) await this.inFlight[0];
    } finally {
      clearInterval(beating);
    }
    const { batches, dead } = parseBatch(batch, this.opts.defaultCluster);
    if (dead.length > 0) {
      await producer.send({ topic: this.opts.kafka.deadLetterTopic, acks: -1, messages: dead });
      this.opts.metrics?.deadLettered(this.opts.kafka.deadLetterTopic, dead.length);
      this.log.warn({ topic: batch.topic, partition: batch.partition, messages: dead.length, first: dead[0]!.headers[ERROR_HEADER] }, 'messages sent to the dead-letter topic');
    }
    const key = `${batch.topic}/${batch.partition}`;
    const epoch = this.epochs.get(key) ?? 0;
    // Records are made now, and only numbers of the fetched batch are kept: neither the
    // messages nor the parsed events are held while the store commits.
    const records = batches.map((b) => this.opts.pipeline.prepare(b));
    const place: BatchPlace = {
      topic: batch.topic,
      partition: batch.partition,
      firstOffset: batch.messages[0]!.offset,
      nextOffset: (BigInt(batch.lastOffset()) + 1n).toString(),
      messages: batch.messages.length,
      lag: Number(batch.offsetLag()),
    };
    const written = this.store(records, place, payload.commitOffsetsIfNecessary, epoch, key);
    this.inFlight.push(written);
    void written.finally(() => this.inFlight.splice(this.inFlight.indexOf(written), 1));
    // kafkajs may fetch past this batch now; the group's committed offset waits for the store.
    resolveOffset(batch.lastOffset());
    await heartbeat();
  }

  private async store(records: RecordBatch[], place: BatchPlace, commitOffsetsIfNecessary: EachBatchPayload['commitOffsetsIfNecessary'], epoch: number, key: string): Promise<void> {
    const { topic, partition } = place;
    let results;
    try {
      results = await this.opts.writer.write(records);
    } catch (err) {
      if ((this.epochs.get(key) ?? 0) === epoch) {
        this.epochs.set(key, epoch + 1);
        this.stats.rewinds++;
        this.log.error({ err: errorMessage(err), topic, partition, offset: place.firstOffset }, 'cannot store a batch; it will be fetched again');
        this.seek(topic, partition, place.firstOffset);
      }
      return;
    }
    if ((this.epochs.get(key) ?? 0) !== epoch) return;
    // The batch's own commit: consumer.commitOffsets does nothing once the consumer is
    // stopping, and a batch stored during a SIGTERM must still be committed.
    try {
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: place.nextOffset }] }] });
    } catch (err) {
      // Lost the partition in a rebalance: its new owner starts from the last committed
      // offset, and the store recognizes what it stores again as duplicates.
      this.log.warn({ err: errorMessage(err), topic, partition }, 'cannot commit offsets; the new owner of the partition will repeat them');
      return;
    }
    const totals = results.reduce((t, r) => ({ accepted: t.accepted + r.accepted, duplicates: t.duplicates + r.duplicates, quarantined: t.quarantined + r.quarantined }), { accepted: 0, duplicates: 0, quarantined: 0 });
    this.stats.messages += place.messages;
    this.stats.accepted += totals.accepted;
    this.opts.metrics?.ingested('kafka', totals);
    this.opts.metrics?.kafkaLag(topic, partition, place.lag);
  }

  /** Set by startKafkaConsumer: rewinds a partition to a batch that could not be stored. */
  seek: (topic: string, partition: number, offset: string) => void = () => undefined;
}

/** Where a fetched batch was, in numbers: all a commit needs of it. */
interface BatchPlace {
  topic: string;
  partition: number;
  firstOffset: string;
  nextOffset: string;
  messages: number;
  lag: number;
}

interface DeadLetter {
  value: Buffer | null;
  key: Buffer | null;
  headers: Record<string, string>;
}

/** A fetched batch's messages as events by cluster, and the messages for the dead-letter topic. */
function parseBatch(batch: EachBatchPayload['batch'], defaultCluster: string): { batches: WriteBatch[]; dead: DeadLetter[] } {
  const byCluster = new Map<string, WriteBatch>();
  const dead: DeadLetter[] = [];
  for (const m of batch.messages) {
    const cluster = m.headers?.[CLUSTER_HEADER]?.toString() || defaultCluster;
    let wb = byCluster.get(cluster);
    if (!wb) byCluster.set(cluster, (wb = { cluster, source: 'kafka', events: [], rejected: [] }));
    const position = `${batch.topic}/${batch.partition}@${m.offset}`;
    const outcome = parseMessageValue(m.value, position);
    const deadLetter = (reason: string) => dead.push({ value: m.value, key: m.key, headers: { [ERROR_HEADER]: reason, [CLUSTER_HEADER]: cluster, 'kubetrail-source': position } });
    if ('unusable' in outcome) {
      wb.rejected.push({ position, reason: outcome.unusable, raw: m.value ?? '' });
      deadLetter(outcome.unusable);
      continue;
    }
    wb.events.push(...outcome.events);
    wb.rejected.push(...outcome.rejected);
    // Nothing in it was usable (an event too deep, or invalid): the message as sent goes on too.
    if (outcome.events.length === 0 && outcome.rejected.length > 0) deadLetter(outcome.rejected[0]!.reason);
  }
  return { batches: [...byCluster.values()], dead };
}
