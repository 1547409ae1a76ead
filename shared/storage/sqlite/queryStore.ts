import type { Database } from 'better-sqlite3';
import type { OpenQueryStore, QueryStore } from '../port.js';
import { openStore } from './openStore.js';
import { getReview, lastDecidedReview, latestReview, listReviews, recordDecision, saveReview } from './tables/accessReviews.js';
import { setAlertStatus } from './tables/alertStore.js';
import { closeCheckout, createCheckout, listCheckouts } from './tables/breakglass.js';
import { acknowledgeGap, queryGaps } from './tables/pipelineGaps.js';
import { getSnapshot, hasSnapshot, latestSnapshot, listSnapshots, saveSnapshot } from './tables/rbacSnapshots.js';
import { querySelfAudit } from './tables/selfAudit.js';
import { getAlerts, queryAlerts } from './queries/alertQuery.js';
import { queryActions, readAction } from './queries/eventQuery.js';
import { identityTimeline, queryIdentities } from './queries/identityQuery.js';
import { clusterIngest, oldestEvents, queryQuarantine } from './queries/ingestStatus.js';
import { coverageOf } from './queries/coverageQuery.js';
import { queryActivity } from './queries/activityQuery.js';
import { accountHistory, readUsage, usageDaysCovered } from './queries/usageQuery.js';
import { archivedDays, listArchives } from './archive/retention.js';

/**
 * The query side of the port (port.ts) over one SQLite connection. SQLite answers at once:
 * each answer is the synchronous query's, and each stream its rows as they are stepped.
 */
export function sqliteQueryStore(db: Database): QueryStore {
  return {
    events: {
      actions: (filter) => rows(queryActions(db, filter)),
      action: async (cluster, auditID, options) => readAction(db, cluster, auditID, options),
    },
    identities: {
      list: (options) => rows(queryIdentities(db, options)),
      timeline: async (identity, bucket, range) => identityTimeline(db, identity, bucket, range),
    },
    alerts: {
      list: (filter) => rows(queryAlerts(db, filter)),
      get: async (ids) => getAlerts(db, ids),
      setStatus: async (id, status, by, atMicros) => setAlertStatus(db, id, status, by, atMicros),
    },
    checkouts: {
      list: async () => listCheckouts(db),
      create: async (c, nowMicros) => createCheckout(db, c, nowMicros),
      close: async (id, atMicros) => closeCheckout(db, id, atMicros),
    },
    status: {
      clusters: async (nowMicros) => clusterIngest(db, nowMicros),
      oldest: async () => oldestEvents(db),
      coverage: async (f) => coverageOf(db, f),
      activity: async (f) => queryActivity(db, f),
      quarantine: (filter) => rows(queryQuarantine(db, filter)),
      gaps: async (filter, nowMicros) => queryGaps(db, filter, nowMicros),
      acknowledgeGap: async (id, a, nowMicros) => acknowledgeGap(db, id, a, nowMicros),
    },
    selfAudit: {
      list: (filter) => rows(querySelfAudit(db, filter)),
    },
    snapshots: {
      save: async (s) => saveSnapshot(db, s),
      list: async (cluster) => listSnapshots(db, cluster),
      get: async (id) => getSnapshot(db, id),
      has: async (cluster) => hasSnapshot(db, cluster),
      latest: async (cluster, at) => latestSnapshot(db, cluster, at),
    },
    reviews: {
      save: async (r) => saveReview(db, r),
      get: async (id) => getReview(db, id),
      latest: async (cluster) => latestReview(db, cluster),
      lastDecided: async (cluster) => lastDecidedReview(db, cluster),
      list: async () => listReviews(db),
      recordDecision: async (d) => recordDecision(db, d),
    },
    usage: {
      read: (filter) => rows(readUsage(db, filter)),
      daysCovered: async (filter) => usageDaysCovered(db, filter),
      accountHistory: async (cluster) => accountHistory(db, cluster),
    },
    archives: {
      list: async () => listArchives(db),
      days: async (since, until) => archivedDays(db, since, until),
    },
  };
}

/** The store at `path`, read-only, on a connection of its own. */
export function openSqliteQueryStore(path: string): OpenQueryStore {
  const s = openStore(path, { readonly: true });
  return { store: sqliteQueryStore(s.db), close: () => s.close() };
}

/** A query's rows as a stream; stopping early finishes the statement. */
async function* rows<T>(iterable: Iterable<T>): AsyncIterable<T> {
  yield* iterable;
}
