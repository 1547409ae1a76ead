import { kafkaSecurity } from '../../shared/kafkaSecurity.js';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/log.js';
import type { WriteResult } from '../../shared/storage/sqlite/write/eventWriter.js';
import type { WriteBatch } from '../../shared/pipeline/prepareEvent.js';
import { CLUSTER_HEADER, ERROR_HEADER } from './kafka.js';
import { relayMessages, type RelayMessages } from './relayMessages.js';

/** A record batch must stay under the broker's default message.max.bytes (1 MB). */
const MAX_REQUEST_BYTES = 900 * 1024;

/**
 * Relay mode: the webhook publishes each accepted batch to Kafka instead of the store, one
 * message per event keyed by auditID (so all stages of a request land on one partition), and
 * answers only after every in-sync replica has it. Rejected input goes to the dead-letter
 * topic. Stateless receivers in front, consumer groups behind: how kubetrail scales out.
 */
export class KafkaRelay {
  private constructor(private readonly producer: Producer, private readonly topic: string, private readonly deadLetterTopic: string, private readonly log: Logger) {}

  static async start(kafka: Readonly<Config['kafka']>, topic: string, log: Logger): Promise<KafkaRelay> {
    const client = new Kafka({ clientId: `${kafka.clientId}-relay`, brokers: [...kafka.brokers], ...kafkaSecurity(kafka), logLevel: logLevel.WARN });
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    return new KafkaRelay(producer, topic, kafka.deadLetterTopic, log.child({ service: 'relay' }));
  }

  /** Publishes a batch; resolves once the broker acknowledged every message. */
  submit(batch: WriteBatch): Promise<WriteResult> {
    return this.publishMessages(batch.cluster, relayMessages(batch));
  }

  /** Publishes messages made elsewhere (the webhook's body thread) for one cluster. */
  publishMessages(cluster: string, prepared: RelayMessages): Promise<WriteResult> {
    const headers = { [CLUSTER_HEADER]: cluster };
    const messages = prepared.messages.map((m) => ({ ...m, headers }));
    const dead = prepared.dead.map((r) => ({
      value: typeof r.value === 'string' ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      headers: { ...headers, [ERROR_HEADER]: r.reason, 'kubetrail-source': `webhook ${r.position}` },
    }));
    return this.publish(messages, dead, prepared.dead[0]?.reason);
  }

  private async publish(messages: { key: string; value: string; headers: Record<string, string> }[], dead: { value: string | Buffer; headers: Record<string, string> }[], firstReason?: string): Promise<WriteResult> {
    for (const chunk of bySize(messages)) await this.producer.send({ topic: this.topic, acks: -1, messages: chunk });
    if (dead.length > 0) {
      for (const chunk of bySize(dead)) await this.producer.send({ topic: this.deadLetterTopic, acks: -1, messages: chunk });
      this.log.warn({ rejected: dead.length, first: firstReason }, 'rejected input sent to the dead-letter topic');
    }
    return { accepted: messages.length, duplicates: 0, quarantined: dead.length, conflicts: 0 };
  }

  async stop(): Promise<void> {
    await this.producer.disconnect();
  }
}

function* bySize<T extends { value: string | Buffer }>(messages: T[]): Generator<T[]> {
  let chunk: T[] = [];
  let size = 0;
  for (const m of messages) {
    if (chunk.length > 0 && size + m.value.length > MAX_REQUEST_BYTES) {
      yield chunk;
      chunk = [];
      size = 0;
    }
    chunk.push(m);
    size += m.value.length;
  }
  if (chunk.length > 0) yield chunk;
}
