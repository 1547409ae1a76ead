import type { FollowOffset } from './sqlite/tables/followOffsets.js';
import type { RecordBatch } from './recordBatch.js';

/**
 * What the ingest side asks of a store: read this first. A source (webhook, files, follow,
 * Kafka) hands finished batches (recordBatch.ts, built by shared/pipeline) to a BatchStore and
 * learns, once they are durably committed, what became of each event. It knows nothing of
 * SQL, threads or tables: SQLite's writer thread (storeWriter.ts → writerThread.ts →
 * eventWriter.ts) is the first implementation.
 *
 * The read side is, for now, functions over a SQLite connection, one module per question
 * (eventQuery.ts, identityQuery.ts, alertQuery.ts, usageQuery.ts, ingestStatus.ts,
 * selfAudit.ts, verifyChain.ts, retention.ts); they are what a second backend implements next.
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
