import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import express from 'express';
import { parseListen, storeOptionsFrom, type Config } from '../../shared/config.js';
import { ConfigError, InputError } from '../../shared/errors.js';
import { createMetrics } from '../../shared/metrics.js';
import type { Logger } from '../../shared/log.js';
import { StoreWriter } from '../../shared/storage/storeWriter.js';
import { Alerter } from '../alerter/alerter.js';
import { StoreSink } from '../ingest/storeSink.js';
import { startKafkaConsumer, type RunningConsumer } from '../ingest/kafka.js';
import { KafkaRelay } from '../ingest/kafkaRelay.js';
import { createWebhookRouter } from '../ingest/webhook.js';

/** The services `kubetrail serve` can run; a later issue adds api. */
export const SERVICES = ['ingest', 'alerter'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Parses `--services a,b`; every name must be a known service. */
export function parseServices(text: string): ServiceName[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new InputError(`--services: expected a list such as ${SERVICES.join(',')}`);
  for (const n of names) {
    if (!SERVICES.includes(n as ServiceName)) throw new InputError(`--services: unknown service '${n}' (available: ${SERVICES.join(', ')})`);
  }
  return [...new Set(names)] as ServiceName[];
}

export interface RunningServer {
  server: Server;
  url: string;
  /** Stops taking requests, lets those in flight finish, closes the store. */
  stop(): Promise<void>;
}

/** Starts the HTTP server with the chosen services. */
export async function serve(config: Readonly<Config>, services: ServiceName[], log: Logger): Promise<RunningServer> {
  const writer = await StoreWriter.open(config.database.path, storeOptionsFrom(config));
  try {
    return await startServer(config, services, log, writer);
  } catch (err) {
    // Without this the writer thread would keep a process that failed to start alive.
    await writer.close();
    throw err;
  }
}

async function startServer(config: Readonly<Config>, services: ServiceName[], log: Logger, writer: StoreWriter): Promise<RunningServer> {
  const listen = parseListen(config.listen)!;
  const store = writer.store;
  const app = express();
  app.disable('x-powered-by');
  let stopping = false;

  app.get('/healthz', (_req, res) => {
    // A writer thread that stopped will not come back: a liveness probe should restart us.
    if (writer.problem) res.status(503).type('text/plain').send(`unhealthy: ${writer.problem}`);
    else res.type('text/plain').send('ok');
  });
  const metrics = createMetrics();
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/readyz', (_req, res) => {
    try {
      if (stopping) throw new Error('shutting down');
      if (writer.problem) throw new Error(writer.problem);
      store.db.prepare('SELECT 1').get();
      res.type('text/plain').send('ok');
    } catch (err) {
      res.status(503).type('text/plain').send(`not ready: ${(err as Error).message}`);
    }
  });

  let relay: KafkaRelay | null = null;
  if (services.includes('ingest')) {
    if (config.relay.toKafka) relay = await KafkaRelay.start(config.kafka, config.relay.topic ?? config.kafka.topics[0]!, log);
    const queue = relay ?? new StoreSink(writer, log.child({ service: 'ingest' }));
    app.use(
      createWebhookRouter({
        queue,
        log: log.child({ service: 'ingest' }),
        defaultCluster: config.cluster,
        maxBodyBytes: config.webhook.maxBodyBytes,
        tokens: config.webhook.tokens,
        metrics,
        source: relay ? 'relay' : 'webhook',
      }),
    );
  }
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  const server = config.tls
    ? createHttpsServer({ cert: readTls(config.tls.certFile, 'tls.certFile'), key: readTls(config.tls.keyFile, 'tls.keyFile') }, app)
    : createHttpServer(app);
  // Webhook bodies can be tens of MB on a slow link; the apiserver itself gives up after 30 s.
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  let consumer: RunningConsumer | null = null;
  // A relaying receiver is stateless: it publishes to Kafka and leaves consuming to others.
  if (services.includes('ingest') && config.kafka.brokers.length > 0 && !relay) {
    try {
      consumer = await startKafkaConsumer({ writer, kafka: config.kafka, defaultCluster: config.cluster, log, metrics });
    } catch (err) {
      server.close();
      throw err;
    }
  }
  let alerter: Alerter | null = null;
  if (services.includes('alerter') && config.alerts.sinks.length > 0) {
    try {
      alerter = await Alerter.start(config.database.path, {
        // A Kafka sink without brokers of its own uses the ones kubetrail consumes from.
        sinks: config.alerts.sinks.map((s) => (s.type === 'kafka' ? { ...s, brokers: [...(s.brokers ?? config.kafka.brokers)] } : s)),
        pollMs: config.alerts.pollMs,
        retryBaseMs: config.alerts.retryBaseMs,
        retryMaxMs: config.alerts.retryMaxMs,
        log: log.child({ service: 'alerter' }),
        metrics,
      });
    } catch (err) {
      server.close();
      await consumer?.stop();
      throw err;
    }
  }
  log.info({ url, services, database: config.database.path, relayToKafka: config.relay.toKafka }, 'kubetrail serving');

  return {
    server,
    url,
    stop: async () => {
      stopping = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await consumer?.stop();
      await relay?.stop();
      await alerter?.stop();
      await writer.close();
      log.info('kubetrail stopped');
    },
  };
}

function readTls(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`config ${key}: cannot read ${path} (${(err as Error).message})`);
  }
}
