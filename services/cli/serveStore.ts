import { hostname } from 'node:os';
import { retentionJobOf, shortRetentionWarning, storeOptionsFrom, type Config } from '../../shared/config.js';
import { DEFAULT_GAP_SETTINGS, GapWatch, type GapEvent } from '../../shared/detect/pipelineGaps.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { OpenAlertQueue, OpenQueryStore, QueryStore } from '../../shared/storage/port.js';
import { pgAlertQueue } from '../../shared/storage/postgres/pgAlertQueue.js';
import { PgPipelineWatch } from '../../shared/storage/postgres/pgPipelineWatch.js';
import { openSqliteAlertQueue } from '../../shared/storage/sqlite/tables/alertDeliveries.js';
import { pgQueryStore } from '../../shared/storage/postgres/pgQueryStore.js';
import { createPgRefusalRecorder, lastPgServiceStart, recordPgSelfAudit } from '../../shared/storage/postgres/pgSelfAudit.js';
import { runRetention, type RetentionRun } from '../../shared/storage/sqlite/archive/retention.js';
import { runPgRetention } from '../../shared/storage/postgres/pgRetention.js';
import { lastLink } from '../../shared/storage/sqlite/chain/hashChain.js';
import { checkReadable } from '../../shared/storage/sqlite/openStore.js';
import { openSqliteQueryStore, sqliteQueryStore } from '../../shared/storage/sqlite/queryStore.js';
import { loadStreams, recordGapEvent, saveStreams } from '../../shared/storage/sqlite/tables/pipelineGaps.js';
import { createRefusalRecorder, createSelfAuditRecorder, lastServiceStart, type Refusal, type SelfAuditEntry } from '../../shared/storage/sqlite/tables/selfAudit.js';
import { StoreWriter } from '../../shared/storage/sqlite/write/storeWriter.js';
import { systemClock } from './clock.js';
import { openPgWriter, type IngestStore } from './ingestStore.js';

/**
 * What `kubetrail serve` runs on: the configured store, SQLite or PostgreSQL, as the services
 * use it. The writer takes the ingested batches; the query side answers the API; the store
 * keeps the self-audit of the calls; and the jobs that belong to the store (the pipeline watch,
 * retention) start with the ingest service.
 */
export interface ServeStore {
  readonly writer: IngestStore;
  readonly query: QueryStore;
  /** A query side of its own for a long export. */
  openReader(): OpenQueryStore;
  recordSelf(e: SelfAuditEntry): void;
  recordRefusal(e: Refusal): void;
  /** Throws when the store cannot answer now. */
  ready(): Promise<void>;
  /** The hash chain's head (PCI DSS 10.3.4): of this writer's stream on PostgreSQL. */
  chainHead(): { seq: number; hash: string } | null;
  /** What the last recorded start said of itself, or undefined. */
  lastServiceStart(): Promise<unknown>;
  /** Starts the store's jobs that run beside ingest. */
  startIngestJobs(config: Readonly<Config>, log: Logger): { stop(): void };
  /** The alerter's queue and the alerts it sends, on a connection of its own where the store needs one. */
  openAlertQueue(): OpenAlertQueue;
  /** Waits for the writes in flight (events, self-audit), then closes. */
  close(): Promise<void>;
}

export async function openServeStore(config: Readonly<Config>, log: Logger): Promise<ServeStore> {
  return config.storage.url ? openPgServeStore(config, log) : openSqliteServeStore(config);
}

async function openSqliteServeStore(config: Readonly<Config>): Promise<ServeStore> {
  const writer = await StoreWriter.open(config.database.path, { ...storeOptionsFrom(config, process.env), clock: systemClock });
  const db = writer.store.db;
  const recordSelf = createSelfAuditRecorder(db, systemClock);
  return {
    writer,
    query: sqliteQueryStore(db),
    openReader: () => openSqliteQueryStore(config.database.path),
    recordSelf,
    recordRefusal: createRefusalRecorder(db, systemClock),
    ready: async () => checkReadable(writer.store),
    chainHead: () => {
      const l = lastLink(db);
      return l && { seq: l.seq, hash: l.link.toString('hex') };
    },
    lastServiceStart: async () => lastServiceStart(db),
    startIngestJobs: (cfg, log) => {
      const watch = watchPipeline(cfg, writer, log.child({ service: 'ingest' }));
      const retention = scheduleRetention(cfg, (job, now) => runRetention(db, job, now), log.child({ service: 'retention' }), recordSelf);
      return {
        stop: () => {
          watch.stop();
          clearInterval(retention);
        },
      };
    },
    openAlertQueue: () => openSqliteAlertQueue(config.database.path, systemClock),
    close: () => writer.close(),
  };
}

/**
 * PostgreSQL, shared with the other kubetrails that write it. The self-audit's writes go over
 * the network: they are not waited for by the call they record, and close() waits for them.
 */
async function openPgServeStore(config: Readonly<Config>, log: Logger): Promise<ServeStore> {
  const { store, writer } = await openPgWriter(config, process.env, 8);
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const tracked = p.catch((err: unknown) => log.error({ err: errorMessage(err) }, 'a write to PostgreSQL failed (the self-audit, or the pipeline watch at stop)')).finally(() => pending.delete(tracked));
    pending.add(tracked);
  };
  const stored = pgQueryStore(store, config.identityMap);
  // Read your own writes: a read of the self-audit waits for the entries this process began before it.
  const query: QueryStore = {
    ...stored,
    selfAudit: {
      async *list(filter) {
        await Promise.all([...pending]);
        yield* stored.selfAudit.list(filter);
      },
    },
  };
  return {
    writer,
    query,
    openReader: () => ({ store: query, close: () => undefined }),
    recordSelf: (e) => track(recordPgSelfAudit(store.pool, systemClock, e)),
    recordRefusal: createPgRefusalRecorder(store.pool, systemClock, track),
    ready: async () => {
      await store.pool.query('SELECT 1');
    },
    chainHead: () => writer.chainHead(),
    lastServiceStart: () => lastPgServiceStart(store.pool),
    startIngestJobs: (cfg, log) => {
      const recordSelf = (e: SelfAuditEntry) => track(recordPgSelfAudit(store.pool, systemClock, e));
      const retention = scheduleRetention(cfg, (job, now) => runPgRetention(store.pool, job, now), log.child({ service: 'retention' }), recordSelf);
      const windowMs = cfg.gap.minutes * 60_000;
      const watch = new PgPipelineWatch(store.pool, { windowMs, collapseRatio: cfg.gap.collapseRatio }, systemClock, log.child({ service: 'ingest' }));
      let round = Promise.resolve();
      const timer = setInterval(() => (round = round.then(() => watch.tick())), Math.min(30_000, Math.max(200, windowMs / 5)));
      timer.unref();
      return {
        stop: () => {
          clearInterval(retention);
          clearInterval(timer);
          track(round.then(() => watch.stop()));
        },
      };
    },
    openAlertQueue: () => ({ queue: pgAlertQueue(store.pool), alerts: query.alerts, close: () => undefined }),
    close: async () => {
      while (pending.size > 0) await Promise.all(pending);
      await writer.close();
    },
  };
}

/**
 * The audit pipeline's own failures (PCI DSS 10.7.2): learns each cluster and source's rate
 * from what this process commits, and records a gap (with a critical audit-pipeline-gap alert)
 * when one goes silent or collapses, and its end when events come again. What it learned is
 * kept in the store (pipeline_streams), so that a restart starts from it.
 */
function watchPipeline(config: Readonly<Config>, writer: StoreWriter, log: Logger): { stop(): void } {
  const windowMs = config.gap.minutes * 60_000;
  const db = writer.store.db;
  const watch = new GapWatch({ ...DEFAULT_GAP_SETTINGS, windowMs, collapseRatio: config.gap.collapseRatio });
  // What was learned before this start, kept at each tick and at stop.
  watch.restore(loadStreams(db, windowMs), systemClock());
  const save = () => {
    try {
      saveStreams(db, watch.states(), windowMs);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'cannot keep the pipeline watch state');
    }
  };
  const apply = (events: GapEvent[]) => {
    for (const e of events) {
      try {
        const id = recordGapEvent(db, e, windowMs);
        if (e.type === 'open') log.warn({ gap: id, cluster: e.cluster, source: e.source, kind: e.kind, since: new Date(e.startedAt).toISOString() }, 'audit pipeline gap');
        else log.info({ gap: id, cluster: e.cluster, source: e.source, lateEvents: e.lateEvents }, 'audit pipeline gap closed');
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'cannot record an audit pipeline gap');
      }
    }
  };
  writer.onCommitted((a) => apply(watch.observe(a.cluster, a.source, a.events, systemClock(), a.oldest / 1000)));
  const timer = setInterval(() => {
    apply(watch.tick(systemClock()));
    save();
  }, Math.min(30_000, Math.max(200, windowMs / 5)));
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      save();
    },
  };
}

/**
 * The retention job (PCI DSS 10.5.1), a minute after start and then daily: days older than
 * retention.hotDays to archives; archives deleted only after retention.deleteArchivesAfterDays, when set. Each run is in
 * the self-audit; a retention under a year is warned of at every start. On PostgreSQL, the
 * kubetrail that takes the job's lock first runs it.
 */
function scheduleRetention(
  config: Readonly<Config>,
  runJob: (job: ReturnType<typeof retentionJobOf>, nowMicros: number) => Promise<RetentionRun | null>,
  log: Logger,
  recordSelf: (e: SelfAuditEntry) => void,
): NodeJS.Timeout {
  const warning = shortRetentionWarning(config);
  if (warning) {
    log.warn(warning);
    recordSelf({ channel: 'service', actor: 'kubetrail', source: hostname(), action: 'retention-override', detail: warning });
  }
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    runJob(retentionJobOf(config), systemClock() * 1000)
      .then((r) => {
        // Another kubetrail of the same database is running it (PostgreSQL).
        if (r && (r.archived.length || r.expired.length)) {
          log.info({ archived: r.archived, expired: r.expired }, 'retention');
          recordSelf({ channel: 'service', actor: 'kubetrail', source: hostname(), action: 'retention', query: r, rows: r.archived.reduce((n, a) => n + a.rows, 0) });
        }
      })
      .catch((err: unknown) => log.error({ err: errorMessage(err) }, 'the retention job failed; it runs again in a day, or run kubetrail retention run'))
      .finally(() => (running = false));
  };
  const first = setTimeout(run, 60_000);
  first.unref();
  const timer = setInterval(run, 86_400_000);
  timer.unref();
  return timer;
}
