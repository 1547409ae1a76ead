import type { UsageRecord } from '../rbac/usageAnalysis.js';
import type { UserAttributes } from '../rbac/types.js';
import type { RecordBatch } from './recordBatch.js';
import type { ArchiveRecord } from './sqlite/archive/retention.js';
import type { AlertFilter, AlertRow } from './sqlite/queries/alertQuery.js';
import type { EventFilter, StoredEvent } from './sqlite/queries/eventQuery.js';
import type { IdentityRow, TIMELINE_BUCKETS, TimelineRow } from './sqlite/queries/identityQuery.js';
import type { ClusterIngest, QuarantineFilter, QuarantineRow } from './sqlite/queries/ingestStatus.js';
import type { UsageFilter } from './sqlite/queries/usageQuery.js';
import type { CoverageFilter } from './sqlite/queries/coverageQuery.js';
import type { ActivityFilter, ClusterActivity } from './sqlite/queries/activityQuery.js';
import type { CoverageStats } from '../analysis/coverage.js';
import type { NewDecision, NewReview, ReviewSummary, StoredReview } from './sqlite/tables/accessReviews.js';
import type { Checkout, NewCheckout } from './sqlite/tables/breakglass.js';
import type { FollowOffset } from './sqlite/tables/followOffsets.js';
import type { GapRow } from './sqlite/tables/pipelineGaps.js';
import type { Snapshot, SnapshotInfo } from './sqlite/tables/rbacSnapshots.js';
import type { SelfAuditFilter, SelfAuditRow } from './sqlite/tables/selfAudit.js';

/**
 * The port: what kubetrail asks of a store, whatever the engine. Read this first.
 *
 * Ingest: a source (webhook, files, follow, Kafka) hands finished batches (recordBatch.ts,
 * built by shared/pipeline) to a BatchStore and learns, once they are durably committed, what
 * became of each event. It knows nothing of SQL, threads or tables. SQLite's writer thread
 * (sqlite/write: storeWriter.ts → writerThread.ts → eventWriter.ts) is the first implementation.
 *
 * Queries: the API, the CLI, the alerter and the analyses ask a QueryStore (below);
 * sqlite/queryStore.ts is the first implementation.
 *
 * The alerter asks an AlertQueue (below). Not behind the port: the whole-store jobs, which each
 * backend runs its own way (verifying the hash chain, retention's archiving and restoring,
 * rebuilding rollups, the pipeline watch: sqlite/chain and sqlite/archive; postgres/pgVerify.ts,
 * pgRetention.ts and pgPipelineWatch.ts), composed for `serve` by services/cli/serveStore.ts,
 * and the self-audit's writes.
 */
export interface BatchStore {
  /**
   * Commits the batches in one transaction; settles after the commit, with one result per batch.
   * Rejects with StoreUnavailableError when it cannot (then nothing of them is stored).
   */
  write(batches: RecordBatch[], options?: WriteOptions): Promise<WriteResult[]>;
  /** Writes handed over and not yet committed: how far the store is behind. */
  readonly backlog: number;
  /** Resolves once at most `n` writes are waiting. */
  whenBacklogAtMost(n: number): Promise<void>;
  /** Calls `listen` for each batch of events committed from now on. */
  onCommitted(listen: (arrival: Arrival) => void): void;
  /** Why writes cannot be taken any more, or null while they can. */
  readonly problem: string | null;
  /** Where `--follow` of this file stopped (saved with the events: WriteOptions.followOffset), or null. */
  followOffset(path: string): FollowOffset | null;
}

export interface WriteOptions {
  /** A `--follow` position to save in the same transaction as the events. */
  followOffset?: FollowOffset;
}

export interface WriteResult {
  accepted: number;
  duplicates: number;
  quarantined: number;
  /**
   * Duplicates whose content differs from the stored event (a client-set Audit-ID reused by
   * another request, or edited input). Counted in `duplicates` as the key says, and kept in
   * the quarantine table for review, so that nothing is dropped unseen.
   */
  conflicts: number;
}

/** Events of one cluster from one source, committed together; `oldest` is their earliest request time (microseconds). */
export interface Arrival {
  cluster: string;
  source: string;
  events: number;
  oldest: number;
}

// ---------------------------------------------------------------------------------------------
// The query side: what the API, the CLI, the alerter and the analyses ask of a store. Streams
// are async iterables and answers promises, so that a backend over the network (PostgreSQL)
// implements the same interface as SQLite, which answers at once. The row and filter types are
// defined beside SQLite's queries for now (sqlite/queries/, sqlite/tables/); they are the
// contract of the API and the CLI, not SQLite's.
// ---------------------------------------------------------------------------------------------

/** A stream of rows: read as they come, stopped early by breaking out of the loop. */
export type Rows<T> = AsyncIterable<T>;

export interface EventReads {
  /** Actions (each auditID once, from its most complete stage) matching the filter, in its order. */
  actions(filter: EventFilter): Rows<StoredEvent>;
  /** Every stored stage of one request, with bodies when asked. */
  action(cluster: string, auditID: string, options: { bodies: boolean; since?: number; until?: number }): Promise<StoredEvent[]>;
}

export interface IdentityReads {
  /** One row per identity and person, most active first (identityQuery.ts). */
  list(options?: { since?: number; until?: number; identity?: string }): Rows<IdentityRow>;
  timeline(identity: string, bucket: keyof typeof TIMELINE_BUCKETS, range?: { since?: number; until?: number }): Promise<TimelineRow[]>;
}

export interface AlertBook {
  list(filter?: AlertFilter): Rows<AlertRow>;
  get(ids: readonly number[]): Promise<AlertRow[]>;
  setStatus(id: number, status: 'acknowledged' | 'resolved', by: string, atMicros: number): Promise<AlertRow | { problem: 'missing' | 'resolved' | 'acknowledged' }>;
}

export interface CheckoutBook {
  list(): Promise<Checkout[]>;
  create(c: NewCheckout, nowMicros: number): Promise<Checkout>;
  close(id: number, atMicros: number): Promise<Checkout>;
}

export interface StatusReads {
  /** Each cluster's ingest: last event, recent rate, quarantine by source. */
  clusters(nowMicros: number): Promise<ClusterIngest[]>;
  /** The first request time stored of each cluster. */
  oldest(): Promise<{ cluster: string; first: number }[]>;
  quarantine(filter: QuarantineFilter): Rows<QuarantineRow>;
  gaps(filter: { since?: number; cluster?: string; open?: boolean }, nowMicros: number): Promise<GapRow[]>;
  acknowledgeGap(id: number, a: { cause: string; remediation: string; by: string }, nowMicros: number): Promise<GapRow>;
  /** Counts over a cluster's events of a window, for the coverage report (analysis/coverage.ts). */
  coverage(filter: CoverageFilter): Promise<CoverageStats>;
  /** Stored events, denials and 5xx answers per bucket of a range, per cluster (the console's overview). */
  activity(filter: ActivityFilter): Promise<ClusterActivity[]>;
}

export interface SelfAuditLog {
  list(filter?: SelfAuditFilter): Rows<SelfAuditRow>;
}

export interface SnapshotBook {
  save(s: Omit<Snapshot, 'id'>): Promise<SnapshotInfo>;
  list(cluster?: string): Promise<SnapshotInfo[]>;
  get(id: number): Promise<Snapshot>;
  has(cluster: string): Promise<boolean>;
  latest(cluster: string, at?: number): Promise<Snapshot | null>;
}

export interface UsageReads {
  /** A window's usage summed over its days, one record per subject, request, decision and reason. */
  read(filter: UsageFilter): Rows<{ user: UserAttributes; record: UsageRecord }>;
  daysCovered(filter: Omit<UsageFilter, 'namespace'>): Promise<number>;
  accountHistory(cluster: string): Promise<{ lastSeen: Map<string, number>; historyFrom: number | null }>;
}

export interface ReviewBook {
  save(r: NewReview): Promise<number>;
  get(id: number): Promise<StoredReview>;
  /** The newest review of the cluster, or null. */
  latest(cluster: string): Promise<StoredReview | null>;
  /** The newest review of the cluster with a decision recorded: the last one carried out. */
  lastDecided(cluster: string): Promise<StoredReview | null>;
  list(): Promise<ReviewSummary[]>;
  recordDecision(d: NewDecision): Promise<void>;
}

export interface ArchiveReads {
  list(): Promise<ArchiveRecord[]>;
  /** The days of a range that retention moved to archives (YYYY-MM-DD). */
  days(since?: number, until?: number): Promise<string[]>;
}

/** What the query side reads and the few records it keeps (alert handling, checkouts, snapshots). */
export interface QueryStore {
  events: EventReads;
  identities: IdentityReads;
  alerts: AlertBook;
  checkouts: CheckoutBook;
  status: StatusReads;
  selfAudit: SelfAuditLog;
  snapshots: SnapshotBook;
  reviews: ReviewBook;
  usage: UsageReads;
  archives: ArchiveReads;
}

/** A delivery due to a sink: its alert, and how often it was tried. */
export interface DueDelivery {
  alertId: number;
  attempts: number;
}

/**
 * The alerter's queue in the store (alert_deliveries): each alert at or above a sink's severity
 * gets a pending delivery to it, found again after a restart, retried until the sink takes it.
 * Several alerters may share a store: a delivery claimed by one is not given to another until
 * its lease ends. Times in microseconds.
 */
export interface AlertQueue {
  /** Gives each alert stored since the last call a pending delivery to each sink whose severities hold its own. */
  enqueue(sinks: readonly { name: string; severities: readonly string[] }[], at: number): Promise<void>;
  /** Up to `limit` deliveries to `sink` due at `at`, oldest alert first, leased to this alerter until `leaseUntil`. */
  claim(sink: string, at: number, limit: number, leaseUntil: number): Promise<DueDelivery[]>;
  delivered(sink: string, deliveries: readonly DueDelivery[], at: number): Promise<void>;
  /** Failed: tried again at `nextAt`, with the error kept. */
  failed(sink: string, deliveries: readonly DueDelivery[], nextAt: number, error: string): Promise<void>;
}

/** What the alerter runs on: its queue, the alerts it reads, released by close(). */
export interface OpenAlertQueue {
  queue: AlertQueue;
  alerts: AlertBook;
  close(): void | Promise<void>;
}

/** A QueryStore of its own (a connection, a snapshot), released by close(). */
export interface OpenQueryStore {
  store: QueryStore;
  close(): void;
}
