import { StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { WriteResult } from '../../shared/storage/eventWriter.js';
import type { WriteBatch } from '../../shared/storage/prepareEvent.js';
import type { StoreWriter } from '../../shared/storage/storeWriter.js';
import { ingestBatch } from './ingestBatch.js';

interface Waiting {
  batch: WriteBatch;
  resolve: (r: WriteResult) => void;
  reject: (e: Error) => void;
}

/**
 * Coalesces batches that arrive while a commit is running (concurrent webhook requests) into
 * the next transaction, and resolves each caller only after that transaction commits
 * (spec/sqlite-facts.md: one commit per 400-event batch bounds the rate by per-commit cost).
 * When a shared commit fails, each batch is retried alone, so one bad batch cannot fail the
 * others.
 */
export class CommitQueue {
  private waiting: Waiting[] = [];
  private busy = false;

  constructor(private readonly writer: StoreWriter, private readonly log: Logger, private readonly maxEventsPerCommit = 20_000) {}

  /** Resolves with the batch's counts once it is durably committed; rejects with StoreUnavailableError. */
  submit(batch: WriteBatch): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.busy || this.waiting.length === 0) return;
    this.busy = true;
    let events = 0;
    let n = 0;
    while (n < this.waiting.length && (n === 0 || events + this.waiting[n]!.batch.events.length <= this.maxEventsPerCommit)) {
      events += this.waiting[n]!.batch.events.length;
      n++;
    }
    const group = this.waiting.splice(0, n);
    try {
      const results = await ingestBatch(this.writer, group.map((g) => g.batch));
      group.forEach((g, i) => g.resolve(results[i]!));
    } catch (err) {
      if (group.length === 1) this.reject(group[0]!, err);
      // Retry one by one: the batch that broke the shared commit fails alone.
      else {
        for (const g of group) {
          try {
            g.resolve((await ingestBatch(this.writer, [g.batch]))[0]!);
          } catch (e) {
            this.reject(g, e);
          }
        }
      }
    } finally {
      this.busy = false;
      void this.pump();
    }
  }

  private reject(g: Waiting, err: unknown): void {
    this.log.error({ err: errorMessage(err), events: g.batch.events.length }, 'commit failed');
    g.reject(err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`cannot commit to the store: ${errorMessage(err)}`));
  }
}
