import type { WriteOptions, WriteResult } from '../../shared/storage/eventWriter.js';
import type { RecordBatch, RecordBatchBuilder } from '../../shared/storage/eventRows.js';
import type { WriteBatch } from '../../shared/storage/prepareEvent.js';
import type { StoreWriter } from '../../shared/storage/storeWriter.js';

/**
 * The one path every source (webhook, files, Kafka) stores through. Every event goes through a
 * builder on the caller's thread — column split, redaction, compression; later stages of the
 * pipeline (identity, detections) hook in there, so that every source gets them — and the
 * finished batches are committed together, in one transaction, on the writer thread.
 *
 * `ingestBatch` takes whole batches (webhook bodies, Kafka message batches); a source that
 * reads event by event (files) keeps a builder with `createIngestBuilder`, so that each parsed
 * event becomes a compact record at once, and commits it with `commitIngest`.
 */
export async function ingestBatch(writer: StoreWriter, batches: WriteBatch[], options?: WriteOptions): Promise<WriteResult[]> {
  return commitIngest(writer, batches.map((b) => prepareBatch(writer, b)), options);
}

/** One whole batch as records, ready to commit: after this, its parsed events may die. */
export function prepareBatch(writer: StoreWriter, batch: WriteBatch): RecordBatch {
  const builder = createIngestBuilder(writer, batch.cluster, batch.source);
  for (const e of batch.events) builder.addEvent(e);
  for (const r of batch.rejected) builder.addRejected(r);
  return builder.finish();
}

/** A builder for one batch, event by event. */
export function createIngestBuilder(writer: StoreWriter, cluster: string, source: string): RecordBatchBuilder {
  return writer.createBuilder(cluster, source);
}

/** Commits finished batches in one transaction; settles after the commit. */
export function commitIngest(writer: StoreWriter, batches: RecordBatch[], options?: WriteOptions): Promise<WriteResult[]> {
  return writer.write(batches, options);
}
