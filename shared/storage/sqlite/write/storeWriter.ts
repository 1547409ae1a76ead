import { Worker } from 'node:worker_threads';
import type { IdentityRule } from '../../../identity/identityMap.js';
import { StoreUnavailableError } from '../../../errors.js';
import type { Arrival, BatchStore, WriteOptions, WriteResult } from '../../port.js';

export type { Arrival };
import type { Clock } from '../../../clock.js';
import { loadFollowOffset, type FollowOffset } from '../tables/followOffsets.js';
import { openStore, type Store } from '../openStore.js';
import { loadRedactionKey, type RedactionKeySource } from '../../redactionKey.js';
import { oldestReceivedAt, type RecordBatch } from '../../recordBatch.js';

export interface WriterThreadOptions {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  quarantineMaxBytes: number;
  identityMap: IdentityRule[];
  alertThrottleSeconds: number;
  redactionKey: Uint8Array;
  /** The caller's time when the thread starts; each request then brings its own (WriterRequest.at). */
  startedAt: number;
}

export interface StoreWriterOptions {
  /**
   * This thread's clock (migrations). The writer thread is the composition root of its own
   * thread and reads the system clock for what it records (quarantine, alerts, chain links).
   */
  clock: Clock;
  /** Where the key of the redaction markers comes from (never the store). */
  redactionKey: RedactionKeySource;
  synchronous?: 'FULL' | 'NORMAL';
  quarantineMaxBytes?: number;
  identityMap?: readonly IdentityRule[];
  alertThrottleSeconds?: number;
}

export interface WriterRequest {
  id: number;
  /** When it was handed over, by the caller's clock: what the writer thread records as now. */
  at: number;
  batches: RecordBatch[];
  options: WriteOptions;
}

export type WriterResponse = { id: number; results: WriteResult[] } | { id: number; error: string };

/**
 * Commits batches on a writer thread, so that parsing and preparing the next batch (this
 * thread) overlaps with interning and writing the last one (the other core). Batches cross as
 * flat records. Requests are committed in the order given, each in one transaction (requests
 * that queue up while a commit runs share the next one); the promise settles after the commit. `store` is this thread's connection, for reads.
 */
export class StoreWriter implements BatchStore {
  /** The key of the redaction markers: the ingest pipeline's (shared/pipeline), on whichever thread it runs. */
  readonly redactionKey: Uint8Array;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (r: WriteResult[]) => void; reject: (e: Error) => void }>();
  private backlogWatchers: { atMost: number; resolve: () => void }[] = [];
  private readonly listeners: ((arrival: Arrival) => void)[] = [];
  private nextId = 1;
  private failure: Error | null = null;
  private readonly ready: Promise<void>;

  private constructor(readonly store: Store, options: WriterThreadOptions, private readonly clock: Clock) {
    this.redactionKey = options.redactionKey;
    // A bounded heap keeps the writer's memory flat: what it holds is one batch at a time, and its
    // objects die young (a 16 MB young generation is as fast as 32 MB here, and 25 MB smaller).
    this.worker = new Worker(new URL('./writerThread.js', import.meta.url), {
      workerData: options,
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 16 },
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
    });
    this.worker.on('message', (msg: WriterResponse | { ready: true }) => {
      if (!('id' in msg)) return;
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      if ('error' in msg) w?.reject(new StoreUnavailableError(`cannot commit to the store: ${msg.error}`));
      else w?.resolve(msg.results);
      this.notifyBacklog();
    });
    this.worker.on('error', (err) => this.fail(new StoreUnavailableError(`the store writer failed: ${err.message}`)));
    this.worker.on('exit', (code) => this.fail(new StoreUnavailableError(`the store writer stopped (exit code ${code})`)));
  }

  /** Opens (creating and migrating) the store at `path` and starts its writer thread. */
  static async open(
    path: string,
    options: StoreWriterOptions,
  ): Promise<StoreWriter> {
    const synchronous = options.synchronous ?? 'FULL';
    const store = openStore(path, { synchronous, clock: options.clock });
    let redactionKey: Buffer;
    try {
      redactionKey = loadRedactionKey(store.db, options.redactionKey);
    } catch (err) {
      store.close();
      throw err;
    }
    const writer = new StoreWriter(
      store,
      {
        path,
        redactionKey,
        startedAt: options.clock(),
        synchronous,
        quarantineMaxBytes: options.quarantineMaxBytes ?? 1 << 20,
        identityMap: [...(options.identityMap ?? [])],
        alertThrottleSeconds: options.alertThrottleSeconds ?? 3600,
      },
      options.clock,
    );
    try {
      await writer.ready;
    } catch (err) {
      store.close();
      throw err;
    }
    return writer;
  }

  /** Why writes cannot be taken any more (the writer thread stopped), or null while they can. */
  get problem(): string | null {
    return this.failure?.message ?? null;
  }

  /** Writes handed to the writer thread and not yet committed: how far the store is behind. */
  get backlog(): number {
    return this.waiting.size;
  }

  /** Resolves once at most `n` writes are waiting (at once if that is so, or if the writer has failed). */
  whenBacklogAtMost(n: number): Promise<void> {
    if (this.waiting.size <= n) return Promise.resolve();
    return new Promise((resolve) => this.backlogWatchers.push({ atMost: n, resolve }));
  }

  /** Commits the batches in one transaction; rejects with StoreUnavailableError when it cannot. */
  write(batches: RecordBatch[], options: WriteOptions = {}): Promise<WriteResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const committed = new Promise<WriteResult[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, at: this.clock(), batches, options } satisfies WriterRequest);
    });
    // serve's pipeline watch and ingest's hot-window note listen: one pass over the request times.
    if (this.listeners.length === 0) return committed;
    const arrivals = batches
      .filter((b) => b.size > 0)
      .map((b) => ({ cluster: b.cluster, source: b.source, events: b.size, oldest: oldestReceivedAt(b) }));
    return committed.then((results) => {
      for (const listen of this.listeners) for (const a of arrivals) listen(a);
      return results;
    });
  }

  followOffset(path: string): FollowOffset | null {
    return loadFollowOffset(this.store.db, path);
  }

  /** Calls `listen` for each batch of events committed from now on: the pipeline watch (10.7.2) learns rates from it. */
  onCommitted(listen: (arrival: Arrival) => void): void {
    this.listeners.push(listen);
  }

  /** Waits for the writes in flight, stops the writer thread and closes the store. */
  async close(): Promise<void> {
    if (!this.failure) {
      const exited = new Promise((r) => this.worker.once('exit', r));
      this.worker.postMessage('close');
      await exited;
    }
    this.store.close();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.notifyBacklog();
  }

  private notifyBacklog(): void {
    if (this.backlogWatchers.length === 0) return;
    const size = this.waiting.size;
    const due = this.backlogWatchers.filter((w) => size <= w.atMost);
    this.backlogWatchers = this.backlogWatchers.filter((w) => size > w.atMost);
    for (const w of due) w.resolve();
  }
}
