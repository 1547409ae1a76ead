import { systemClock } from '../../../services/cli/clock.js';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import YAML from 'yaml';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { DEFAULTS, type Config } from '../../../shared/config.js';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { ParsedEvent } from '../../../shared/audit/types.js';
import { createLogger } from '../../../shared/log.js';
import { createMetrics } from '../../../shared/metrics.js';
import { queryActions } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { StoreWriter } from '../../../shared/storage/sqlite/write/storeWriter.js';
import { ERROR_HEADER, startKafkaConsumer } from '../../../services/ingest/kafka.js';
import { testPipeline, CLI, cliEnv, corpusDir, kafkaBrokers, makeEvent, startServe, storedAuditKeys, tempDir, TEST_REDACTION_KEY, waitFor } from '../../helpers.js';

/** Consumer tests against a real Apache Kafka broker (test/infra/kafka/kafka.sh). */
describe('Kafka consumer (real broker)', function () {
  this.timeout(120_000);
  const dir = tempDir();
  let brokers: string[];
  let kafka: Kafka;

  before(function () {
    const b = kafkaBrokers(this);
    if (!b) return;
    brokers = b;
    kafka = new Kafka({ clientId: 'kubetrail-test', brokers, logLevel: logLevel.NOTHING });
  });

  async function produce(topic: string, messages: { value: string; headers?: Record<string, string> }[]) {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();
  }

  /** The consumer's config for `topic`: a group and a dead-letter topic of its own. */
  function kafkaConfig(topic: string, overrides: Partial<Config['kafka']> = {}): Config['kafka'] {
    return { ...DEFAULTS.kafka, brokers, topics: [topic], group: `g-${topic}`, deadLetterTopic: `${topic}.dlq`, clientId: 'kubetrail-test', ...overrides };
  }

  function stored(writer: StoreWriter, cluster?: string) {
    return [...queryActions(writer.store.db, cluster ? { cluster } : {})];
  }

  it('stores single Events, EventLists and JSON lines, by the cluster header, and dead-letters the rest', async () => {
    const topic = `audit-${randomUUID()}`;
    const dlq = `${topic}.dlq`;
    const writer = await StoreWriter.open(join(dir, 'consume.db'), { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    const single = makeEvent();
    const listed = [makeEvent(), makeEvent()];
    const jsonLines = [makeEvent(), makeEvent(), makeEvent()];
    await produce(topic, [
      { value: JSON.stringify(single), headers: { cluster: 'prod-eu' } },
      { value: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [...listed, { kind: 'Event', stage: 'x' }] }) },
      { value: jsonLines.map((e) => JSON.stringify(e)).join('\n') + '\n', headers: { cluster: 'prod-us' } },
      { value: 'this is not json' },
      { value: JSON.stringify({ kind: 'Pod', apiVersion: 'v1' }) },
    ]);
    const consumer = await startKafkaConsumer({
      pipeline: testPipeline({ redactionKey: writer.redactionKey }),
      writer,
      kafka: kafkaConfig(topic, { deadLetterTopic: dlq }),
      defaultCluster: 'main',
      log: createLogger('silent'),
    });
    try {
      await waitFor(() => stored(writer).length >= 6, '6 events stored', 60_000);
      expect(stored(writer, 'prod-eu').map((s) => s.event.auditID)).to.deep.equal([single.auditID]);
      expect(stored(writer, 'main').map((s) => s.event.auditID)).to.have.members(listed.map((e) => e.auditID));
      expect(stored(writer, 'prod-us').map((s) => s.event.auditID)).to.have.members(jsonLines.map((e) => e.auditID));
      const q = writer.store.db.prepare("SELECT position, reason FROM quarantine WHERE source = 'kafka' ORDER BY id").all() as { position: string; reason: string }[];
      expect(q.map((r) => r.reason)).to.deep.equal([
        'auditID: missing (expected a non-empty string)',
        'not JSON: ' + q[1]!.reason.slice('not JSON: '.length),
        'kind: expected "Event" or "EventList", got "Pod"',
      ]);
      expect(q[0]!.position).to.equal(`${topic}/0@1 item 2`);
      // The two unusable messages, with their reasons, on the dead-letter topic.
      const dead = await readTopic(dlq, 2);
      expect(dead.map((m) => m.value)).to.deep.equal(['this is not json', JSON.stringify({ kind: 'Pod', apiVersion: 'v1' })]);
      expect(dead[1]!.error).to.equal('kind: expected "Event" or "EventList", got "Pod"');
    } finally {
      await consumer.stop();
      await writer.close();
    }
  });

  it('dead-letters an event nested 3,000 levels deep instead of looping on its offset, and stores the messages around it', async () => {
    const topic = `audit-${randomUUID()}`;
    const writer = await StoreWriter.open(join(dir, 'deep.db'), { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    const before = makeEvent();
    const after = makeEvent();
    const deep = JSON.stringify(makeEvent({ level: 'Request', requestObject: { kind: 'ConfigMap', data: {}, x: JSON.parse('['.repeat(3000) + ']'.repeat(3000)) } }));
    await produce(topic, [{ value: JSON.stringify(before) }, { value: deep }, { value: JSON.stringify(after) }]);
    const consumer = await startKafkaConsumer({ pipeline: testPipeline({ redactionKey: writer.redactionKey }), writer, kafka: kafkaConfig(topic), defaultCluster: 'main', log: createLogger('silent') });
    try {
      await waitFor(() => stored(writer).length >= 2, 'the two events around it stored', 60_000);
      expect(stored(writer).map((s) => s.event.auditID)).to.have.members([before.auditID, after.auditID]);
      const dead = await readTopic(`${topic}.dlq`, 1);
      expect(dead[0]!.value).to.equal(deep);
      expect(dead[0]!.error).to.match(/nests deeper than 200 levels/);
      const q = writer.store.db.prepare("SELECT reason FROM quarantine WHERE source = 'kafka'").pluck().all();
      expect(q).to.deep.equal([dead[0]!.error]);
    } finally {
      await consumer.stop();
      await writer.close();
    }
  });

  it('stores the Falco corpus sent one event per message, and nothing twice when the group resumes', async function () {
    const corpus = corpusDir(this);
    if (!corpus) return;
    const topic = `audit-${randomUUID()}`;
    const values = ['create_secret.json', 'exec_pod.json', 'create_clusterrolebinding.json', 'delete_namespace_foo.json'].map((f) =>
      readFileSync(join(corpus, 'audit', 'falco', f), 'utf8').trim(),
    );
    await produce(topic, values.map((value) => ({ value })));
    const writer = await StoreWriter.open(join(dir, 'corpus.db'), { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    const options = { pipeline: testPipeline({ redactionKey: writer.redactionKey }), writer, kafka: kafkaConfig(topic), defaultCluster: 'minikube', log: createLogger('silent') };
    try {
      let consumer = await startKafkaConsumer(options);
      await waitFor(() => stored(writer).length >= 4, '4 corpus events stored', 60_000);
      await consumer.stop();
      // Sent again, and a restart of the group: the committed offsets and the duplicate key keep it at 4.
      await produce(topic, [{ value: values[0]! }]);
      consumer = await startKafkaConsumer(options);
      await waitFor(() => (writer.store.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n >= 4, 'still 4', 10_000);
      await new Promise((r) => setTimeout(r, 3000));
      await consumer.stop();
      expect((writer.store.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n).to.equal(4);
    } finally {
      await writer.close();
    }
  });

  /** `count` events on a new topic of `partitions` partitions, as EventLists of 100, keyed by auditID. */
  async function fillTopic(topic: string, partitions: number, count: number): Promise<string[]> {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await admin.disconnect();
    return produceEvents(topic, count);
  }

  async function waitForStableGroup(group: string, members: number): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(async () => {
        const { groups } = await admin.describeGroups([group]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === members;
      }, `a stable group of ${members}`, 60_000);
    } finally {
      await admin.disconnect();
    }
  }

  async function produceEvents(topic: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    const messages = [];
    for (let i = 0; i < count; i += 100) {
      const items = Array.from({ length: Math.min(100, count - i) }, () => makeEvent({ auditID: randomUUID() }));
      ids.push(...items.map((e) => e.auditID));
      messages.push({ key: items[0]!.auditID, value: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items }) });
    }
    const producer = kafka.producer();
    await producer.connect();
    // A few lists per request: a record batch must stay under the broker's 1 MB message limit.
    for (let i = 0; i < messages.length; i += 5) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 5) });
    await producer.disconnect();
    return ids;
  }

  /** Events in the database at `db`, counted and distinct; zero while it is still being created. */
  const countIn = (db: string): { n: number; d: number } => {
    const keys = storedAuditKeys(db);
    return { n: keys.length, d: new Set(keys).size };
  };

  it('kill -9 of the consuming server mid-stream, then a restart: nothing lost, nothing twice', async () => {
    const topic = `audit-${randomUUID()}`;
    const ids = await fillTopic(topic, 2, 30_000);
    const db = join(dir, 'kill.db');
    const env = cliEnv({ KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic, KUBETRAIL_KAFKA_GROUP: `g-${topic}` });
    const serve = () =>
      spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', db], { env, stdio: 'ignore' });
    let child = serve();
    await waitFor(() => countIn(db).n > 0, 'some events stored', 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // More events arrive while it is down.
    ids.push(...(await produceEvents(topic, 10_000)));
    expect(countIn(db).n).to.be.lessThan(ids.length);
    child = serve();
    try {
      await waitFor(() => countIn(db).n >= ids.length, `${ids.length} events stored`, 90_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(countIn(db)).to.deep.equal({ n: ids.length, d: ids.length });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('on SIGTERM mid-stream, finishes the batch in hand, commits it and leaves the group', async () => {
    const topic = `audit-${randomUUID()}`;
    const group = `g-${topic}`;
    const ids = await fillTopic(topic, 2, 30_000);
    const db = join(dir, 'sigterm.db');
    const env = cliEnv({ KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic, KUBETRAIL_KAFKA_GROUP: group });
    const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', db], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    await waitFor(() => countIn(db).n > 0, 'some events stored', 60_000);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code, output.slice(-2000)).to.equal(0);
    const storedAfterStop = countIn(db);
    expect(storedAfterStop.n, 'stopped mid-stream').to.be.lessThan(ids.length);
    expect(storedAfterStop.d).to.equal(storedAfterStop.n);
    expect(output).to.contain('left the consumer group');
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Left, not timed out: the group is empty at once, not after the session timeout.
      const { groups } = await admin.describeGroups([group]);
      expect(groups[0]!.state).to.equal('Empty');
      expect(groups[0]!.members).to.have.length(0);
      // Every stored batch was committed, and nothing was committed unstored: the committed
      // offsets (messages of 100 events) account for exactly the events in the store.
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const committed = offsets!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      expect(committed * 100).to.equal(storedAfterStop.n);
    } finally {
      await admin.disconnect();
    }
  });

  it('two consumers in one group split the partitions and together store each event once', async () => {
    const topic = `audit-${randomUUID()}`;
    await fillTopic(topic, 4, 0);
    const db = join(dir, 'pair.db');
    const writers = [await StoreWriter.open(db, { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } }), await StoreWriter.open(db, { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } })];
    const kafkaOptions = kafkaConfig(topic);
    const consumers = await Promise.all(
      writers.map((writer) => startKafkaConsumer({ pipeline: testPipeline({ redactionKey: writer.redactionKey }), writer, kafka: kafkaOptions, defaultCluster: 'main', log: createLogger('silent') })),
    );
    try {
      // Both members in the group, each with its partitions, before any event is sent.
      await waitForStableGroup(kafkaOptions.group, 2);
      const ids = await produceEvents(topic, 8_000);
      await waitFor(() => countIn(db).n >= ids.length, `${ids.length} events stored`, 90_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(countIn(db)).to.deep.equal({ n: ids.length, d: ids.length });
      const stats = consumers.map((c) => c.stats());
      expect(stats.every((s) => s.accepted > 0), JSON.stringify(stats)).to.equal(true);
      expect(stats.reduce((n, s) => n + s.accepted, 0)).to.equal(ids.length);
    } finally {
      for (const c of consumers) await c.stop();
      for (const w of writers) await w.close();
    }
  });

  it('pauses consuming while the store is behind, lets the waiting writes go first, then resumes', async () => {
    const topic = `audit-${randomUUID()}`;
    await fillTopic(topic, 1, 0);
    const dbPath = join(dir, 'behind.db');
    const writer = await StoreWriter.open(dbPath, { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    const metrics = createMetrics();
    const options = kafkaConfig(topic, { pauseAtBacklog: 3 });
    const consumer = await startKafkaConsumer({ pipeline: testPipeline({ redactionKey: writer.redactionKey }), writer, kafka: options, defaultCluster: 'main', log: createLogger('silent'), metrics });
    const pausedGauge = async () => /kubetrail_kafka_partition_paused\{topic="[^"]+",partition="0"\} (\d)/.exec(await metrics.registry.metrics())?.[1];
    try {
      await waitForStableGroup(options.group, 1);
      // Another connection holds the write lock: the store falls behind, and three
      // webhook-like writes wait for it.
      const locker = new BetterSqlite3(dbPath);
      locker.exec('BEGIN IMMEDIATE');
      const waiting = Array.from({ length: 3 }, () => {
        const parsed = parseEvent(makeEvent({ auditID: randomUUID() }), 'test') as ParsedEvent;
        return writer.write([testPipeline({ redactionKey: writer.redactionKey }).prepare({ cluster: 'web', source: 'webhook', events: [parsed], rejected: [] })]);
      });
      await waitFor(() => writer.backlog === 3, 'three writes waiting', 5_000);
      const ids = await produceEvents(topic, 500);
      try {
        await waitFor(() => consumer.stats().pauses > 0, 'the partition paused', 5_000);
        expect(await pausedGauge()).to.equal('1');
        expect(writer.backlog, 'the consumer added no write of its own').to.equal(3);
      } finally {
        locker.exec('COMMIT');
        locker.close();
      }
      await Promise.all(waiting);
      await waitFor(() => stored(writer, 'main').length >= ids.length, `${ids.length} events stored`, 30_000);
      expect(countIn(dbPath)).to.deep.equal({ n: ids.length + 3, d: ids.length + 3 });
      expect(await pausedGauge()).to.equal('0');
      // The waiting writes went first: every event from Kafka was stored after them.
      const last = writer.store.db.prepare("SELECT max(e.rowid) AS r FROM events e JOIN strings s ON s.id = e.cluster_id WHERE s.value = 'web'").get() as { r: number };
      const first = writer.store.db.prepare("SELECT min(e.rowid) AS r FROM events e JOIN strings s ON s.id = e.cluster_id WHERE s.value = 'main'").get() as { r: number };
      expect(first.r).to.be.greaterThan(last.r);
    } finally {
      await consumer.stop();
      await writer.close();
    }
  });

  it('rewinds a partition whose batch the store could not take, and loses nothing', async () => {
    const topic = `audit-${randomUUID()}`;
    await fillTopic(topic, 1, 0);
    const dbPath = join(dir, 'rewind.db');
    const writer = await StoreWriter.open(dbPath, { clock: systemClock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    const options = kafkaConfig(topic);
    const consumer = await startKafkaConsumer({ pipeline: testPipeline({ redactionKey: writer.redactionKey }), writer, kafka: options, defaultCluster: 'main', log: createLogger('silent') });
    try {
      await waitForStableGroup(options.group, 1);
      // Another connection holds the write lock past the store's busy timeout: the write fails.
      const locker = new BetterSqlite3(dbPath);
      locker.exec('BEGIN IMMEDIATE');
      let ids: string[];
      try {
        ids = await produceEvents(topic, 300);
        await waitFor(() => consumer.stats().rewinds > 0, 'a failed write', 30_000);
      } finally {
        locker.exec('ROLLBACK');
        locker.close();
      }
      await waitFor(() => countIn(dbPath).n >= ids.length, `${ids.length} events stored`, 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(countIn(dbPath)).to.deep.equal({ n: ids.length, d: ids.length });
      expect(consumer.stats().accepted).to.equal(ids.length);
    } finally {
      await consumer.stop();
      await writer.close();
    }
  });

  it('relays webhook batches through Kafka to a consumer that stores them (webhook → Kafka → SQLite)', async () => {
    const topic = `audit-${randomUUID()}`;
    const dlq = `${topic}.dlq`;
    // A stateless receiver relaying to Kafka, and a consumer storing from it, in two processes.
    const receiver = await serveWith(cliEnv({ KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic }), ['--relay-to-kafka', '--db', join(dir, 'receiver.db')], { 'kafka.deadLetterTopic': dlq });
    const db = join(dir, 'relayed.db');
    const storer = await serveWith(cliEnv({ KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic, KUBETRAIL_KAFKA_GROUP: `g-${topic}` }), ['--db', db], { 'kafka.deadLetterTopic': dlq });
    try {
      const events = Array.from({ length: 120 }, () => makeEvent({ auditID: randomUUID() }));
      const body = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [...events, { kind: 'Event', auditID: 'bad' }] };
      const res = await fetch(`${receiver.url}/audit/webhook/edge-1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ accepted: 120, duplicates: 0, quarantined: 1 });
      await waitFor(() => countIn(db).n >= 120, '120 relayed events stored', 60_000);
      const conn = new BetterSqlite3(db, { readonly: true });
      const clusters = conn.prepare('SELECT DISTINCT s.value AS c FROM events e JOIN strings s ON s.id = e.cluster_id').all();
      conn.close();
      expect(clusters).to.deep.equal([{ c: 'edge-1' }]);
      expect(countIn(db)).to.deep.equal({ n: 120, d: 120 });
      // The receiver is stateless: it relays, and does not also consume the topic into its own store.
      expect(countIn(join(dir, 'receiver.db')).n).to.equal(0);
      expect((await readTopic(dlq, 1))[0]!.error).to.match(/^stage: missing/);
      // Both sides count what went through them on /metrics (Prometheus text format).
      const relayed = await (await fetch(`${receiver.url}/metrics`)).text();
      expect(relayed).to.contain('kubetrail_ingest_events_total{source="relay",outcome="accepted"} 120');
      const consumed = await (await fetch(`${storer.url}/metrics`)).text();
      expect(consumed).to.contain('kubetrail_ingest_events_total{source="kafka",outcome="accepted"} 120');
      expect(consumed).to.match(new RegExp(`kubetrail_kafka_consumer_lag\\{topic="${topic}",partition="0"\\} 0`));
    } finally {
      await receiver.stop();
      await storer.stop();
    }
  });

  /** `kubetrail serve` as a child process with `config` keys (dotted) in a config file. */
  async function serveWith(env: NodeJS.ProcessEnv, args: string[], config: Record<string, string>) {
    const file = join(dir, `serve-${randomUUID()}.yaml`);
    const nested: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries(config)) {
      const [a, b] = k.split('.') as [string, string];
      (nested[a] ??= {})[b] = v;
    }
    writeFileSync(file, YAML.stringify(nested));
    const { child, url } = await startServe(['--config', file, ...args], env);
    return {
      url,
      stop: async () => {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      },
    };
  }

  async function readTopic(topic: string, n: number): Promise<{ value: string; error: string | undefined }[]> {
    const consumer: Consumer = kafka.consumer({ groupId: `read-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: { value: string; error: string | undefined }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push({ value: message.value?.toString() ?? '', error: message.headers?.[ERROR_HEADER]?.toString() });
      },
    });
    await waitFor(() => got.length >= n, `${n} messages on ${topic}`, 30_000);
    await consumer.disconnect();
    return got;
  }
});
