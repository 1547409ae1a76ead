import { systemClock } from '../../../services/cli/clock.js';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULTS, type Config } from '../../../shared/config.js';
import { kafkaSecurity } from '../../../shared/kafkaSecurity.js';
import { createLogger } from '../../../shared/log.js';
import { queryActions } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { StoreWriter } from '../../../shared/storage/sqlite/write/storeWriter.js';
import { startKafkaConsumer } from '../../../services/ingest/kafka.js';
import { TEST_REDACTION_KEY, kafkaBrokers, makeEvent, tempDir, testPipeline, waitFor } from '../../helpers.js';

/** The SASL_SSL listener test/infra/kafka/kafka.sh starts beside the plain one, and its CA file. */
function saslListener(): { brokers: string[]; caFile: string } | null {
  const run = process.env.KUBETRAIL_KAFKA_RUN || resolve(homedir(), '.cache', 'kubetrail', 'run', 'kafka');
  const file = join(run, 'sasl-brokers');
  return existsSync(file) ? { brokers: [readFileSync(file, 'utf8').trim()], caFile: join(run, 'ca.pem') } : null;
}

const USER = 'kubetrail';
const PASSWORD = 'kubetrail-test-secret';

describe('Kafka over SASL and TLS, as cloud brokers ask (real broker)', function () {
  this.timeout(120_000);
  const dir = tempDir();
  let plain: string[];
  let sasl: { brokers: string[]; caFile: string };

  before(function () {
    const brokers = kafkaBrokers(this);
    if (!brokers) return;
    plain = brokers;
    const listener = saslListener();
    if (!listener) {
      if (process.env.CI === 'true') throw new Error('CI=true but the broker has no SASL_SSL listener: test/infra/kafka/kafka.sh start makes one');
      // eslint-disable-next-line no-console
      console.log('    (skipped: the broker has no SASL_SSL listener; restart it with test/infra/kafka/kafka.sh)');
      this.skip();
    }
    sasl = listener!;
  });

  const config = (overrides: Partial<Config['kafka']>): Config['kafka'] => ({ ...DEFAULTS.kafka, brokers: sasl.brokers, clientId: 'kubetrail-sasl-test', ...overrides });
  const topicsOf = async (k: Config['kafka'], env: NodeJS.ProcessEnv = {}) => {
    const admin = new Kafka({ clientId: 'kubetrail-sasl-test', brokers: k.brokers, ...kafkaSecurity(k, env), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    await admin.connect();
    try {
      return await admin.listTopics();
    } finally {
      await admin.disconnect();
    }
  };

  it('connects with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over TLS checked against the CA file, and not with a wrong password or an unknown CA', async () => {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
      const topics = await topicsOf(config({ ssl: { caFile: sasl.caFile, rejectUnauthorized: true }, sasl: { mechanism, username: USER, passwordFile } }));
      expect(topics, mechanism).to.be.an('array');
    }
    // The password from the environment wins over the file.
    const wrong = config({ ssl: { caFile: sasl.caFile, rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512', username: USER, passwordFile } });
    let refused = '';
    await topicsOf(wrong, { KUBETRAIL_KAFKA_PASSWORD: 'not-the-password' }).catch((err: Error) => (refused = err.message));
    expect(refused).to.match(/SASL|authentication/i);
    // The system's CAs do not know the broker's self-signed certificate.
    let untrusted = '';
    await topicsOf(config({ ssl: true, sasl: { mechanism: 'scram-sha-256', username: USER, passwordFile } })).catch((err: Error) => (untrusted = err.message));
    expect(untrusted).to.match(/certificate/i);
  });

  it('consumes audit events over SASL_SSL into the store', async () => {
    const topic = `sasl-${randomUUID()}`;
    const events = [makeEvent(), makeEvent(), makeEvent()];
    // Produced through the plain listener: the same broker, the same topic.
    const producer = new Kafka({ clientId: 'kubetrail-test', brokers: plain, logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: events.map((e) => ({ value: JSON.stringify(e), headers: { cluster: 'msk' } })) });
    await producer.disconnect();
    const writer = await StoreWriter.open(join(dir, 'sasl.db'), { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    const previous = process.env.KUBETRAIL_KAFKA_PASSWORD;
    process.env.KUBETRAIL_KAFKA_PASSWORD = PASSWORD;
    const consumer = await startKafkaConsumer({
      pipeline: testPipeline({ redactionKey: writer.redactionKey }),
      writer,
      kafka: config({ topics: [topic], group: `g-${topic}`, deadLetterTopic: `${topic}.dlq`, ssl: { caFile: sasl.caFile, rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512', username: USER } }),
      defaultCluster: 'main',
      log: createLogger('silent'),
    }).finally(() => {
      if (previous === undefined) delete process.env.KUBETRAIL_KAFKA_PASSWORD;
      else process.env.KUBETRAIL_KAFKA_PASSWORD = previous;
    });
    try {
      const stored = () => [...queryActions(writer.store.db, { cluster: 'msk' })].map((s) => s.event.auditID);
      await waitFor(() => stored().length >= 3, '3 events stored', 60_000);
      expect(stored()).to.have.members(events.map((e) => e.auditID));
    } finally {
      await consumer.stop();
      await writer.close();
    }
  });
});
