import type { WriteOptions, WriteResult } from '../../shared/storage/eventWriter.js';
import type { RecordBatchBuilder, RecordBatch } from '../../shared/storage/eventRows.js';
import type { WriteBatch } from '../../shared/storage/prepareBatch.js';
import type { StoreWriter } from '../../shared/storage/storeWriter.js';

/**
 * The one path every source (webhook, files, Kafka) stores through. Events go into a builder
 * on the caller's thread — rows, redaction, compression; later stages of the pipeline
 * (identity, detections) hook in here, so that every source gets them — and the finished
 * batches are committed on the writer thread.
 */
export function createIngestBuilder(writer: StoreWriter, cluster: string, source: string): RecordBatchBuilder {
  return writer.createBuilder(cluster, source);
}

/** Commits finished batches in one transaction; settles after the commit. */
export function commitIngest(writer: StoreWriter, batches: RecordBatch[], options?: WriteOptions): Promise<WriteResult[]> {
  return writer.write(batches, options);
}

/** Builds and commits whole batches in one transaction. */
export async function ingestBatch(writer: StoreWriter, batches: WriteBatch[], options?: WriteOptions): Promise<WriteResult[]> {
  return commitIngest(writer, batches.map((b) => buildRows(writer, b)), options);
}

/** The rows of one whole batch. */
export function buildRows(writer: StoreWriter, batch: WriteBatch): RecordBatch {
  const builder = createIngestBuilder(writer, batch.cluster, batch.source);
  for (const e of batch.events) builder.addEvent(e);
  for (const r of batch.rejected) builder.addRejected(r);
  return builder.finish();
}
