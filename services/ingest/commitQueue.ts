import { StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { WriteResult } from '../../shared/storage/eventWriter.js';
import type { RecordBatch } from '../../shared/storage/eventRows.js';
import type { WriteBatch } from '../../shared/storage/prepareEvent.js';
import type { StoreWriter } from '../../shared/storage/storeWriter.js';
import { commitIngest, createIngestBuilder } from './ingestBatch.js';

interface Waiting {
  records: RecordBatch;
  events: number;
  resolve: (r: WriteResult) => void;
  reject: (e: Error) => void;
}

/** Commits handed to the writer thread at once: one runs while the next waits there, ready. */
const COMMITS_IN_FLIGHT = 2;

/**
 * Stores webhook batches. Each batch is prepared (records, identity, detections) as it arrives,
 * in arrival order; batches that arrive while commits are running are coalesced into the next
 * transaction (spec/sqlite-facts.md: one commit per 400-event batch bounds the rate by
 * per-commit cost), and each caller is resolved only after its transaction commits. Two
 * commits are in flight, so the writer thread never waits for this one between them. When a
 * shared commit fails, each batch is retried alone, so one bad batch cannot fail the others.
 */
export class CommitQueue {
  private waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(private readonly writer: StoreWriter, private readonly log: Logger, private readonly maxEventsPerCommit = 20_000) {}

  /** Resolves with the batch's counts once it is durably committed; rejects with StoreUnavailableError. */
  submit(batch: WriteBatch): Promise<WriteResult> {
    const builder = createIngestBuilder(this.writer, batch.cluster, batch.source);
    for (const e of batch.events) builder.addEvent(e);
    for (const r of batch.rejected) builder.addRejected(r);
    return new Promise((resolve, reject) => {
      this.waiting.push({ records: builder.finish(), events: batch.events.length, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < COMMITS_IN_FLIGHT && this.waiting.length > 0) {
      let events = 0;
      let n = 0;
      while (n < this.waiting.length && (n === 0 || events + this.waiting[n]!.events <= this.maxEventsPerCommit)) {
        events += this.waiting[n]!.events;
        n++;
      }
      this.inFlight++;
      void this.commit(this.waiting.splice(0, n)).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async commit(group: Waiting[]): Promise<void> {
    try {
      const results = await commitIngest(this.writer, group.map((g) => g.records));
      group.forEach((g, i) => g.resolve(results[i]!));
    } catch (err) {
      if (group.length === 1) this.reject(group[0]!, err);
      // Retry one by one: the batch that broke the shared commit fails alone.
      else {
        for (const g of group) {
          try {
            g.resolve((await commitIngest(this.writer, [g.records]))[0]!);
          } catch (e) {
            this.reject(g, e);
          }
        }
      }
    }
  }

  private reject(g: Waiting, err: unknown): void {
    this.log.error({ err: errorMessage(err), events: g.events }, 'commit failed');
    g.reject(err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`cannot commit to the store: ${errorMessage(err)}`));
  }
}
