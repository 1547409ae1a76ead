import type { EventWriter, WriteBatch, WriteResult } from '../../shared/storage/eventWriter.js';
import { StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { ingestBatch } from './ingestBatch.js';

/**
 * Coalesces batches that arrive together (concurrent webhook requests) into one transaction,
 * and resolves each caller only after that transaction commits (spec/sqlite-facts.md: one
 * commit per 400-event batch bounds the rate by per-commit cost). When a shared commit fails,
 * each batch is retried alone, so one bad batch cannot fail the others.
 */
export class CommitQueue {
  private waiting: { batch: WriteBatch; resolve: (r: WriteResult) => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;

  constructor(private readonly writer: EventWriter, private readonly log: Logger, private readonly maxEventsPerCommit = 50_000) {}

  /** Resolves with the batch's counts once it is durably committed; rejects with StoreUnavailableError. */
  submit(batch: WriteBatch): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.waiting.length > 0) {
      let events = 0;
      let n = 0;
      while (n < this.waiting.length && (n === 0 || events + this.waiting[n]!.batch.events.length <= this.maxEventsPerCommit)) {
        events += this.waiting[n]!.batch.events.length;
        n++;
      }
      const group = this.waiting.splice(0, n);
      try {
        const results = ingestBatch(this.writer, group.map((g) => g.batch));
        group.forEach((g, i) => g.resolve(results[i]!));
      } catch (err) {
        if (group.length === 1) {
          this.log.error({ err: errorMessage(err), events }, 'commit failed');
          group[0]!.reject(new StoreUnavailableError(`cannot commit to the store: ${errorMessage(err)}`));
          continue;
        }
        // Retry one by one: the batch that broke the shared commit fails alone.
        for (const g of group) {
          try {
            g.resolve(ingestBatch(this.writer, [g.batch])[0]!);
          } catch (e) {
            this.log.error({ err: errorMessage(e), events: g.batch.events.length }, 'commit failed');
            g.reject(new StoreUnavailableError(`cannot commit to the store: ${errorMessage(e)}`));
          }
        }
      }
    }
  }
}
