import { StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { WriteResult } from '../../shared/storage/port.js';
import type { RecordBatch } from '../../shared/storage/recordBatch.js';
import type { BatchStore } from '../../shared/storage/port.js';

/**
 * Where the webhook stores a batch its body thread prepared: handed to the writer thread at once;
 * the writer commits the batches that queue up meanwhile together (writerThread.ts). Each caller
 * is resolved only after its batch is committed.
 */
export class StoreSink {
  constructor(private readonly writer: BatchStore, private readonly log: Logger) {}

  /** Resolves with the batch's counts once it is durably committed; rejects with StoreUnavailableError. */
  async commit(records: RecordBatch): Promise<WriteResult> {
    try {
      return (await this.writer.write([records]))[0]!;
    } catch (err) {
      this.log.error({ err: errorMessage(err), events: records.size }, 'commit failed');
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`cannot commit to the store: ${errorMessage(err)}`);
    }
  }
}
