import { StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { WriteResult } from '../../shared/storage/eventWriter.js';
import type { RecordBatch } from '../../shared/storage/eventRows.js';
import type { WriteBatch } from '../../shared/storage/prepareEvent.js';
import type { StoreWriter } from '../../shared/storage/storeWriter.js';
import { commitIngest, prepareBatch } from './ingestBatch.js';

/**
 * Where the webhook stores a batch. Each batch is prepared (records, identity, detections) as it
 * arrives, in arrival order, and handed to the writer thread at once, so that the parsed events
 * die young; the writer commits the batches that queue up meanwhile together (writerThread.ts).
 * Each caller is resolved only after its batch is committed.
 */
export class StoreSink {
  constructor(private readonly writer: StoreWriter, private readonly log: Logger) {}

  /** Resolves with the batch's counts once it is durably committed; rejects with StoreUnavailableError. */
  submit(batch: WriteBatch): Promise<WriteResult> {
    return this.commit(prepareBatch(this.writer, batch));
  }

  /** Commits records prepared elsewhere (the webhook's body thread). */
  async commit(records: RecordBatch): Promise<WriteResult> {
    try {
      return (await commitIngest(this.writer, [records]))[0]!;
    } catch (err) {
      this.log.error({ err: errorMessage(err), events: records.size }, 'commit failed');
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`cannot commit to the store: ${errorMessage(err)}`);
    }
  }
}
