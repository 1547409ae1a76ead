/**
 * `npm run bench:kafka` (also the second half of `npm run bench`): kubetrail's Kafka paths
 * against bare kafkajs, measured in the same run, against the same broker and input.
 *
 *   a   baseline: a bare kafkajs consumer in a new group that only JSON.parses every message
 *       of the topic (eachBatch, the library's default settings).
 *   b   `kubetrail serve` consuming the same topic in a new group into a new SQLite store:
 *       from process start to the last event stored (its /metrics, polled every 100 ms).
 *   p   baseline: a bare kafkajs producer (acks=all, idempotent, as the relay) publishing the
 *       events one per message keyed by auditID, 900 KB requests, 8 in flight.
 *   r   `kubetrail serve --relay-to-kafka` fed EventList bodies of 400 events, 8 in flight:
 *       first request to last acknowledged response.
 *
 * The topic (BENCH_PARTITIONS partitions, default 4) holds one event per message, keyed by
 * auditID, as the relay and most log shippers write it. Broker: KAFKA_BROKERS, else one started
 * with test/infra/kafka/kafka.sh for this run and stopped at the end.
 *
 * Environment: BENCH_EVENTS (default 1,000,000), BENCH_RUNS (default 3), BENCH_SEED,
 * BENCH_PARTITIONS, BENCH_RSS=poll. Prints a table and, last, `BENCH_JSON {...}`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs';
import { CLI, pickRssMethod, sleep, startMeasured, type RssMethod } from './child.js';
import { DEFAULT_SEED, writeEventsFile } from '../shared/demo/generateEvents.js';
import { eventListBodiesFromFile, lineBatches } from './fileLines.js';
import { freePort, httpCall, waitReady } from './http.js';
import { envInt, gitRevision, int, median, pad } from './report.js';

const KAFKA_SH = fileURLToPath(new URL('../../test/infra/kafka/kafka.sh', import.meta.url));
const WEBHOOK_BATCH = 400;
const CONCURRENCY = 8;
const MAX_REQUEST_BYTES = 900 * 1024;
/** No phase may take longer than this: a stuck phase is reported, not waited on forever. */
const PHASE_DEADLINE_MS = 15 * 60_000;
const TARGETS = { consumerRatio: 0.5 };

interface PhaseResult {
  seconds: number;
  eventsPerSec: number;
  /** Events consumed (a), stored (b), published (p) or acknowledged (r). */
  count: number;
  peakRssMB?: number;
  cpuSeconds?: number;
  problems: string[];
}

interface RunResult {
  a: PhaseResult;
  b: PhaseResult;
  p: PhaseResult;
  r: PhaseResult;
}

// --- the broker -------------------------------------------------------------------------------

interface Broker {
  brokers: string[];
  stop(): void;
}

function startBroker(): Broker {
  const given = process.env.KAFKA_BROKERS ?? process.env.KUBETRAIL_KAFKA_BROKERS;
  if (given) return { brokers: given.split(',').map((b) => b.trim()).filter(Boolean), stop: () => undefined };
  const runDir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-kafka-'));
  const env = { ...process.env, KUBETRAIL_KAFKA_RUN: runDir };
  const started = spawnSync('bash', [KAFKA_SH, 'start'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = /KAFKA_BROKERS=(\S+)/.exec(started.stdout ?? '');
  if (started.status !== 0 || !line) throw new Error(`could not start a Kafka broker with ${KAFKA_SH} (exit ${started.status}); set KAFKA_BROKERS to use one`);
  return { brokers: line[1]!.split(','), stop: () => void spawnSync('bash', [KAFKA_SH, 'stop'], { env, stdio: 'inherit' }) };
}

// --- producing ----------------------------------------------------------------------------------

/** Messages of the file, one event per message keyed by auditID, in requests under the size limit. */
async function* messageChunks(input: string): AsyncGenerator<Message[]> {
  let chunk: Message[] = [];
  let size = 0;
  for await (const lines of lineBatches(input)) {
    for (const line of lines) {
      const text = line.toString('utf8');
      const { auditID } = JSON.parse(text) as { auditID: string };
      if (chunk.length > 0 && size + text.length > MAX_REQUEST_BYTES) {
        yield chunk;
        chunk = [];
        size = 0;
      }
      chunk.push({ key: auditID, value: text });
      size += text.length;
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** Publishes the file to `topic` with CONCURRENCY requests in flight; returns messages sent. */
async function publish(producer: Producer, topic: string, input: string): Promise<number> {
  const chunks = messageChunks(input);
  let sent = 0;
  const worker = async () => {
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      await producer.send({ topic, acks: -1, messages: next.value });
      sent += next.value.length;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return sent;
}

async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } catch {
    // Only disk space is at stake.
  } finally {
    await admin.disconnect();
  }
}

// --- the four phases ----------------------------------------------------------------------------

async function runBareConsumer(kafka: Kafka, topic: string, n: number): Promise<PhaseResult> {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const consumer = kafka.consumer({ groupId: `bench-bare-${started}` });
  let count = 0;
  const problems: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) JSON.parse(m.value!.toString('utf8'));
        count += batch.messages.length;
        if (count >= n) done();
      },
    });
    await deadline(all, () => `the bare consumer saw ${count} of ${n} messages`);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  await consumer.disconnect();
  return { seconds, eventsPerSec: count / seconds, count, cpuSeconds: (cpu.user + cpu.system) / 1e6, problems };
}

async function runKubetrailConsumer(method: RssMethod, brokers: string[], topic: string, cwd: string, n: number): Promise<PhaseResult> {
  const port = await freePort();
  const db = join(cwd, 'consumer.db');
  const started = performance.now();
  const env = { KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic, KUBETRAIL_KAFKA_GROUP: `bench-kubetrail-${started}` };
  const m = startMeasured(method, ['serve', '--listen', `127.0.0.1:${port}`, '--db', db], cwd, env);
  const problems: string[] = [];
  let stored = 0;
  let seconds = 0;
  try {
    await waitReady(port, m.child, () => '');
    const accepted = async () => {
      const text = (await httpCall(undefined, port, 'GET', '/metrics')).text;
      return Number(/kubetrail_ingest_events_total\{source="kafka",outcome="accepted"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await deadline(
      (async () => {
        while ((stored = await accepted()) < n) {
          if (m.child.exitCode !== null) throw new Error(`kubetrail serve exited with ${m.child.exitCode}`);
          await sleep(100);
        }
      })(),
      () => `kubetrail stored ${stored} of ${n} events`,
    );
    seconds = (performance.now() - started) / 1000;
    if (stored !== n) problems.push(`stored ${stored} of ${n}`);
  } catch (err) {
    seconds = (performance.now() - started) / 1000;
    problems.push((err as Error).message);
  } finally {
    process.kill(await m.pid, 'SIGTERM');
  }
  const r = await m.done;
  if (r.code !== 0) problems.push(`serve exit code ${r.code}; stderr: ${r.stderrTail.slice(-600)}`);
  rmSync(db, { force: true });
  rmSync(`${db}-wal`, { force: true });
  rmSync(`${db}-shm`, { force: true });
  return { seconds, eventsPerSec: stored / seconds, count: stored, peakRssMB: r.peakRssKB / 1024, cpuSeconds: r.cpuSeconds, problems };
}

async function runBareProducer(kafka: Kafka, topic: string, input: string, n: number): Promise<PhaseResult> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const problems: string[] = [];
  let sent = 0;
  try {
    sent = await deadline(publish(producer, topic, input), () => 'the bare producer did not finish');
    if (sent !== n) problems.push(`published ${sent} of ${n}`);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  await producer.disconnect();
  return { seconds, eventsPerSec: sent / seconds, count: sent, cpuSeconds: (cpu.user + cpu.system) / 1e6, problems };
}

async function runRelay(method: RssMethod, brokers: string[], topic: string, input: string, cwd: string, n: number): Promise<PhaseResult> {
  const port = await freePort();
  const env = { KAFKA_BROKERS: brokers.join(','), KUBETRAIL_KAFKA_TOPIC: topic };
  const m = startMeasured(method, ['serve', '--relay-to-kafka', '--listen', `127.0.0.1:${port}`, '--db', join(cwd, 'relay.db')], cwd, env);
  const problems: string[] = [];
  let accepted = 0;
  let seconds = 0;
  try {
    await waitReady(port, m.child, () => '');
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const bodies = eventListBodiesFromFile(input, WEBHOOK_BATCH);
    const worker = async () => {
      for (;;) {
        const next = await bodies.next();
        if (next.done) return;
        const r = await httpCall(agent, port, 'POST', '/audit/webhook', next.value.body);
        if (r.status === 200) accepted += (JSON.parse(r.text) as { accepted: number }).accepted;
        else if (problems.length < 5) problems.push(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
      }
    };
    const started = performance.now();
    await deadline(Promise.all(Array.from({ length: CONCURRENCY }, worker)), () => `the relay acknowledged ${accepted} of ${n} events`);
    seconds = (performance.now() - started) / 1000;
    agent.destroy();
    if (accepted !== n) problems.push(`acknowledged ${accepted} of ${n}`);
  } catch (err) {
    problems.push((err as Error).message);
  } finally {
    process.kill(await m.pid, 'SIGTERM');
  }
  const r = await m.done;
  if (r.code !== 0) problems.push(`serve exit code ${r.code}; stderr: ${r.stderrTail.slice(-600)}`);
  return { seconds, eventsPerSec: accepted / seconds, count: accepted, peakRssMB: r.peakRssKB / 1024, cpuSeconds: r.cpuSeconds, problems };
}

/** `work`, or an error saying how far it got once PHASE_DEADLINE_MS has passed. */
async function deadline<T>(work: Promise<T>, progress: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${PHASE_DEADLINE_MS / 60_000} min: ${progress()}`)), PHASE_DEADLINE_MS);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// --- reporting ----------------------------------------------------------------------------------

function phaseLine(label: string, p: PhaseResult, ratio?: number): string {
  return [
    '  ' + label.padEnd(34),
    `${pad(p.seconds.toFixed(1), 6)} s`,
    `${pad(int(p.eventsPerSec), 8)} ev/s`,
    ratio === undefined ? ' '.repeat(9) : `${pad(ratio.toFixed(2), 5)}×base`,
    p.cpuSeconds === undefined ? '' : `cpu ${pad(p.cpuSeconds.toFixed(1), 5)} s`,
    p.peakRssMB === undefined ? '' : `peak RSS ${pad(p.peakRssMB.toFixed(0), 4)} MB`,
  ].join('  ');
}

async function main(): Promise<void> {
  const n = envInt('BENCH_EVENTS', 1_000_000);
  const runs = envInt('BENCH_RUNS', 3);
  const seed = envInt('BENCH_SEED', DEFAULT_SEED);
  const partitions = envInt('BENCH_PARTITIONS', 4);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const method = pickRssMethod();
  const broker = startBroker();
  const kafka = new Kafka({ clientId: 'kubetrail-bench', brokers: broker.brokers, logLevel: logLevel.ERROR });
  const workDir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-kafka-'));
  const input = join(workDir, 'events.jsonl');
  const topic = `bench-${Date.now()}`;
  try {
    const gen = await writeEventsFile(input, n, { seed });
    console.log(`kubetrail Kafka benchmark — ${int(n)} events, ${runs} run${runs > 1 ? 's' : ''}, node ${process.version}, ${cpus().length} CPUs (broker on the same machine)`);
    console.log(`input: ${(statSync(input).size / 1024 ** 2).toFixed(0)} MiB, ${int(gen.bytes / n)} B/event; topic of ${partitions} partitions, one event per message; revision ${gitRevision() ?? 'unknown'}`);
    await createTopic(kafka, topic, partitions);
    const fill = await runBareProducer(kafka, topic, input, n);
    console.log(`topic filled: ${int(fill.count)} messages in ${fill.seconds.toFixed(1)} s`);
    if (fill.count !== n) throw new Error(`could not fill the topic: ${fill.problems.join('; ')}`);

    const results: RunResult[] = [];
    for (let i = 1; i <= runs; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-kafka-run-'));
      console.log(`\nrun ${i}/${runs}`);
      const a = await runBareConsumer(kafka, topic, n);
      console.log(phaseLine('a baseline bare kafkajs consumer', a));
      const b = await runKubetrailConsumer(method, broker.brokers, topic, dir, n);
      console.log(phaseLine('b kubetrail consumer → SQLite', b, b.eventsPerSec / a.eventsPerSec));
      const pTopic = `${topic}-p${i}`;
      await createTopic(kafka, pTopic, partitions);
      const p = await runBareProducer(kafka, pTopic, input, n);
      console.log(phaseLine('p baseline bare kafkajs producer', p));
      await deleteTopic(kafka, pTopic);
      const rTopic = `${topic}-r${i}`;
      await createTopic(kafka, rTopic, partitions);
      const r = await runRelay(method, broker.brokers, rTopic, input, dir, n);
      console.log(phaseLine(`r relay ${WEBHOOK_BATCH}/body ×${CONCURRENCY} → Kafka`, r, r.eventsPerSec / p.eventsPerSec));
      await deleteTopic(kafka, rTopic);
      for (const [label, x] of Object.entries({ a, b, p, r })) for (const problem of x.problems) console.log(`  ! ${label}: ${problem}`);
      results.push({ a, b, p, r });
      rmSync(dir, { recursive: true, force: true });
    }

    const med = (f: (r: RunResult) => number) => median(results.map(f));
    const summaryMedian = {
      aEventsPerSec: med((r) => r.a.eventsPerSec),
      bEventsPerSec: med((r) => r.b.eventsPerSec),
      ratioBA: med((r) => r.b.eventsPerSec / r.a.eventsPerSec),
      pEventsPerSec: med((r) => r.p.eventsPerSec),
      rEventsPerSec: med((r) => r.r.eventsPerSec),
      ratioRP: med((r) => r.r.eventsPerSec / r.p.eventsPerSec),
      bPeakRssMB: med((r) => r.b.peakRssMB ?? 0),
      rPeakRssMB: med((r) => r.r.peakRssMB ?? 0),
    };
    const pass = summaryMedian.ratioBA >= TARGETS.consumerRatio;
    console.log(`\nmedian over ${runs} run${runs > 1 ? 's' : ''} (ratios: median of each run's ratio)`);
    console.log(`  a bare consumer      ${pad(int(summaryMedian.aEventsPerSec), 9)} ev/s`);
    console.log(`  b kubetrail consumer ${pad(int(summaryMedian.bEventsPerSec), 9)} ev/s   b/a ${summaryMedian.ratioBA.toFixed(2)}   target >= ${TARGETS.consumerRatio}   ${pass ? 'PASS' : 'FAIL'}`);
    console.log(`  p bare producer      ${pad(int(summaryMedian.pEventsPerSec), 9)} ev/s`);
    console.log(`  r kubetrail relay    ${pad(int(summaryMedian.rEventsPerSec), 9)} ev/s   r/p ${summaryMedian.ratioRP.toFixed(2)}`);
    console.log(`  peak RSS: b ${summaryMedian.bPeakRssMB.toFixed(0)} MB, r ${summaryMedian.rPeakRssMB.toFixed(0)} MB`);
    const problems = results.flatMap((r) => [r.a, r.b, r.p, r.r].flatMap((x) => x.problems));
    if (problems.length > 0) console.log(`  ! ${problems.length} problem(s) above: figures of those runs may not be comparable`);
    const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
    const json = (x: PhaseResult) => ({ seconds: round(x.seconds, 2), eventsPerSec: Math.round(x.eventsPerSec), count: x.count, ...(x.peakRssMB ? { peakRssMB: round(x.peakRssMB) } : {}), ...(x.problems.length ? { problems: x.problems } : {}) });
    const summary = {
      events: n,
      runs,
      seed,
      partitions,
      node: process.version,
      cpus: cpus().length,
      revision: gitRevision(),
      perRun: results.map((r) => ({ a: json(r.a), b: json(r.b), p: json(r.p), r: json(r.r) })),
      median: Object.fromEntries(Object.entries(summaryMedian).map(([k, v]) => [k, k.startsWith('ratio') ? round(v, 3) : round(v)])),
      targets: [{ name: 'b/a events/s', value: round(summaryMedian.ratioBA, 3), op: '>=', limit: TARGETS.consumerRatio, pass }],
    };
    console.log(`BENCH_JSON ${JSON.stringify(summary)}`);
  } finally {
    await deleteTopic(kafka, topic);
    rmSync(workDir, { recursive: true, force: true });
    broker.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
