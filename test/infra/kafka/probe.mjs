// Waits until a Kafka broker answers: creates a topic, produces one message and consumes it back.
// Usage: node probe.mjs HOST:PORT [SECONDS]
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';

const require = createRequire(new URL('../../../package.json', import.meta.url));
const { Kafka, logLevel } = require('kafkajs');
const [broker, seconds = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const kafka = new Kafka({ clientId: 'kubetrail-probe', brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 0 } });

async function probe() {
  const topic = '__kubetrail_ready';
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const value = randomUUID();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `probe-${value}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message back within 30 s')), 30_000);
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value?.toString() === value) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
}

for (;;) {
  try {
    await probe();
    process.exit(0);
  } catch (err) {
    if (Date.now() > deadline) {
      console.error(`kafka at ${broker} not ready: ${err.message}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
