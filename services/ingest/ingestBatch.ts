import type { EventWriter, InTransaction, WriteBatch, WriteResult } from '../../shared/storage/eventWriter.js';

/**
 * The one entry point every source (webhook, files, Kafka) stores through: parsed events and
 * rejected input of one or more batches, committed in one transaction. Later stages of the
 * pipeline (identity, detections) hook in here, so that every source gets them.
 */
export function ingestBatch(writer: EventWriter, batches: WriteBatch[], also?: InTransaction): WriteResult[] {
  return writer.write(batches, also);
}
