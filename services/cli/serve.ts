import { kafkaSecurity } from '../../shared/kafkaSecurity.js';
import { systemClock } from './clock.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import express from 'express';
import { parseListen, type Config } from '../../shared/config.js';
import { ConfigError, InputError } from '../../shared/errors.js';
import { createMetrics, watchChainHead } from '../../shared/metrics.js';
import type { Logger } from '../../shared/log.js';
import { bodyThreadPipeline, pipelineOf } from './pipeline.js';
import type { SelfAuditEntry } from '../../shared/storage/sqlite/tables/selfAudit.js';
import { openServeStore, type ServeStore } from './serveStore.js';
import { Alerter } from '../alerter/alerter.js';
import { createApiRouter } from '../api/apiRouter.js';
import { consoleRouter } from '../api/console.js';
import { StoreSink } from '../ingest/storeSink.js';
import type { RecordBatch } from '../../shared/storage/recordBatch.js';
import { startKafkaConsumer, type RunningConsumer } from '../ingest/kafka.js';
import { KafkaRelay } from '../ingest/kafkaRelay.js';
import { createWebhookRouter, type WebhookOptions } from '../ingest/webhook.js';
import { createRequestGuard } from './requestGuard.js';
import { BodyParser, type BodyMode } from '../ingest/bodyParser.js';
import type { RelayMessages } from '../ingest/relayMessages.js';

/** The services `kubetrail serve` can run. */
export const SERVICES = ['ingest', 'api', 'alerter'] as const;
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

export interface ServeOptions {
  /** Serve the query API without tokens on a non-loopback address (`--insecure-no-auth`). */
  insecureNoAuth?: boolean;
}

/** Starts the HTTP server with the chosen services. */
export async function serve(config: Readonly<Config>, services: ServiceName[], log: Logger, options: ServeOptions = {}): Promise<RunningServer> {
  const listen = parseListen(config.listen)!;
  const noAuth = services.includes('api') && config.api.tokens.length === 0;
  if (noAuth && !isLoopback(listen.host)) {
    if (!options.insecureNoAuth) {
      throw new ConfigError(
        `the query API has no tokens (api.tokens) and would answer anyone who reaches ${config.listen}: add tokens (kubetrail token create; in a container, KUBETRAIL_API_TOKEN or KUBETRAIL_API_TOKEN_FILE), listen on a loopback address, leave out the api service, or pass --insecure-no-auth`,
      );
    }
    log.warn({ listen: config.listen }, 'the query API answers WITHOUT authentication on a non-loopback address (--insecure-no-auth): anyone who reaches it reads the audit store');
  } else if (noAuth) {
    log.warn({ listen: config.listen }, 'the query API has no tokens (api.tokens): it answers every local client as admin; add tokens before listening beyond loopback');
  }
  if (services.includes('ingest') && config.webhook.tokens.length === 0 && !config.webhook.requireClientCert && !isLoopback(listen.host)) {
    log.warn({ listen: config.listen }, 'the audit webhook has no token (webhook.tokens) and no client certificate (webhook.requireClientCert) on a non-loopback address: anyone who reaches it can write events into the audit trail');
  }
  const store = await openServeStore(config, log);
  try {
    return await startServer(config, services, log, store, noAuth);
  } catch (err) {
    // Without this the writer thread would keep a process that failed to start alive.
    await store.close();
    throw err;
  }
}

/** 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

async function startServer(config: Readonly<Config>, services: ServiceName[], log: Logger, store: ServeStore, noAuth: boolean): Promise<RunningServer> {
  const listen = parseListen(config.listen)!;
  const writer = store.writer;
  const recordSelf = (e: SelfAuditEntry) => store.recordSelf(e);
  const app = express();
  app.disable('x-powered-by');
  let stopping = false;
  app.use(createRequestGuard({ listenHost: listen.host, allowedHosts: config.server.allowedHosts, tls: Boolean(config.tls) }));

  app.get('/healthz', (_req, res) => {
    // A writer thread that stopped will not come back: a liveness probe should restart us.
    if (writer.problem) res.status(503).type('text/plain').send(`unhealthy: ${writer.problem}`);
    else res.type('text/plain').send('ok');
  });
  const metrics = createMetrics();
  // The hash chain's head (PCI DSS 10.3.4), for recording outside the store: on /metrics, and
  // in the log each minute it moves and at stop.
  const chainHead = () => store.chainHead();
  watchChainHead(metrics.registry, chainHead);
  let loggedHead = chainHead()?.seq ?? 0;
  const logHead = (always = false) => {
    const head = chainHead();
    if (head && (always || head.seq !== loggedHead)) log.info({ chainHead: head }, 'store hash chain head');
    loggedHead = head?.seq ?? 0;
  };
  const headTimer = setInterval(() => logHead(), 60_000);
  headTimer.unref();
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/readyz', async (_req, res) => {
    try {
      if (stopping) throw new Error('shutting down');
      if (writer.problem) throw new Error(writer.problem);
      await store.ready();
      res.type('text/plain').send('ok');
    } catch (err) {
      res.status(503).type('text/plain').send(`not ready: ${(err as Error).message}`);
    }
  });

  let relay: KafkaRelay | null = null;
  let parser: BodyParser<BodyMode> | null = null;
  let jobs: { stop(): void } | null = null;
  if (services.includes('ingest')) {
    jobs = store.startIngestJobs(config, log);
    if (config.relay.toKafka) relay = await KafkaRelay.start(config.kafka, config.relay.topic ?? config.kafka.topics[0]!, log);
    // Bodies are prepared on a thread of their own: the event loop keeps answering.
    const thread = bodyThreadPipeline(config, writer);
    let queue: WebhookOptions['queue'];
    if (relay) {
      const published = relay;
      const relayParser = new BodyParser({ ...thread, mode: 'relay' });
      queue = { parser: relayParser, commit: (messages: RelayMessages, cluster: string) => published.publishMessages(cluster, messages) };
      parser = relayParser;
    } else {
      const sink = new StoreSink(writer, log.child({ service: 'ingest' }));
      const storeParser = new BodyParser({ ...thread, mode: 'store' });
      queue = { parser: storeParser, commit: (records: RecordBatch) => sink.commit(records) };
      parser = storeParser;
    }
    app.use(
      createWebhookRouter({
        queue,
        log: log.child({ service: 'ingest' }),
        defaultCluster: config.cluster,
        maxBodyBytes: config.webhook.maxBodyBytes,
        maxConcurrentBodies: config.webhook.maxConcurrentBodies,
        tokens: config.webhook.tokens,
        requireClientCert: config.webhook.requireClientCert,
        allowedClientNames: config.webhook.allowedClientNames,
        clientClusters: config.webhook.clientClusters,
        metrics,
        clock: systemClock,
        source: relay ? 'relay' : 'webhook',
      }),
    );
  }
  if (services.includes('api')) {
    app.use(
      '/api/v1',
      createApiRouter({
        config,
        store: store.query,
        openReader: () => store.openReader(),
        recordCall: recordSelf,
        recordRefusal: (e) => store.recordRefusal(e),
        log: log.child({ service: 'api' }),
        metrics,
        noAuth,
        clock: systemClock,
      }),
    );
    app.use(consoleRouter());
  }
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  const server = config.tls
    ? createHttpsServer(
        {
          cert: readTls(config.tls.certFile, 'tls.certFile'),
          key: readTls(config.tls.keyFile, 'tls.keyFile'),
          // Client certificates are asked for, not demanded: the webhook checks them, the API takes tokens.
          ...(config.tls.clientCaFile ? { ca: readTls(config.tls.clientCaFile, 'tls.clientCaFile'), requestCert: true, rejectUnauthorized: false } : {}),
        },
        app,
      )
    : createHttpServer(app);
  // Webhook bodies can be tens of MB on a slow link; the apiserver itself gives up after 30 s.
  server.requestTimeout = 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
  } catch (err) {
    // What started before the listen must not keep a process that failed to start alive.
    await parser?.close();
    clearInterval(headTimer);
    jobs?.stop();
    await relay?.stop();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  let consumer: RunningConsumer | null = null;
  // A relaying receiver is stateless: it publishes to Kafka and leaves consuming to others.
  if (services.includes('ingest') && config.kafka.brokers.length > 0 && !relay) {
    try {
      consumer = await startKafkaConsumer({ pipeline: pipelineOf(config, writer), writer, kafka: config.kafka, defaultCluster: config.cluster, log, metrics });
    } catch (err) {
      server.close();
      throw err;
    }
  }
  let alerter: Alerter | null = null;
  if (services.includes('alerter') && config.alerts.sinks.length > 0) {
    try {
      alerter = await Alerter.start(store.openAlertQueue(), {
        // A Kafka sink without brokers of its own uses the ones kubetrail consumes from, and
        // reaches them as the consumer does (TLS, SASL).
        sinks: config.alerts.sinks.map((s) => (s.type === 'kafka' ? { ...s, brokers: [...(s.brokers ?? config.kafka.brokers)], ...(s.brokers ? {} : { security: kafkaSecurity(config.kafka) }) } : s)),
        pollMs: config.alerts.pollMs,
        retryBaseMs: config.alerts.retryBaseMs,
        retryMaxMs: config.alerts.retryMaxMs,
        log: log.child({ service: 'alerter' }),
        metrics,
        clock: systemClock,
      });
    } catch (err) {
      server.close();
      await consumer?.stop();
      throw err;
    }
  }
  log.info({ url, services, database: config.database.path, relayToKafka: config.relay.toKafka }, 'kubetrail serving');
  recordStart(await store.lastServiceStart(), recordSelf, config, { url, services, noAuth });

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
      await parser?.close();
      await alerter?.stop();
      recordSelf({ channel: 'service', actor: 'kubetrail', source: hostname(), action: 'stop', detail: url });
      clearInterval(headTimer);
      jobs?.stop();
      logHead(true);
      await store.close();
      log.info('kubetrail stopped');
    },
  };
}

/**
 * Records the start in the self-audit, and a configuration change when the configuration
 * differs from the one of the last start: which top-level keys changed (by hash, so that no
 * secret of the file lands in the trail).
 */
function recordStart(lastStart: unknown, record: (e: SelfAuditEntry) => void, config: Readonly<Config>, how: { url: string; services: ServiceName[]; noAuth: boolean }): void {
  const hashes = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16)]));
  const last = lastStart as { config?: Record<string, string> } | undefined;
  const before = last?.config ?? null;
  record({ channel: 'service', actor: 'kubetrail', source: hostname(), action: 'start', query: { services: how.services, url: how.url, apiAuth: how.noAuth ? 'none (loopback)' : 'tokens', config: hashes } });
  if (before !== null) {
    const changed = [...new Set([...Object.keys(before), ...Object.keys(hashes)])].filter((k) => before[k] !== hashes[k]).sort();
    if (changed.length > 0) record({ channel: 'service', actor: 'kubetrail', source: hostname(), action: 'config-change', detail: `changed since the last start: ${changed.join(', ')}` });
  }
}

function readTls(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`config ${key}: cannot read ${path} (${(err as Error).message})`);
  }
}
