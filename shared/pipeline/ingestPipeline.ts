import { createRedactor, type Redactor } from '../audit/redact.js';
import type { Detector } from '../detect/engine.js';
import type { IdentityRule } from '../identity/identityMap.js';
import { PrincipalCache } from '../identity/principals.js';
import { identityMapReadsTokens } from '../identity/userParts.js';
import type { RecordBatch } from '../storage/recordBatch.js';
import { RecordBatchBuilder, type FindingSource } from './batchBuilder.js';
import type { WriteBatch } from './prepareEvent.js';

export interface PipelineOptions {
  /** The key of the redaction markers (the store's: StoreWriter.redactionKey). */
  redactionKey: Uint8Array;
  /** The detections run on every event; null for none. */
  detector: Detector | null;
  /** Store each user apart from its token's own values (identity/userParts.ts): `splitsTokens(identityMap)`. */
  splitTokens: boolean;
}

/**
 * The ingest pipeline every source goes through (webhook, files, Kafka; the relay only
 * validates): parsed and validated events (shared/audit) are redacted, attributed to a principal
 * and its token (shared/identity), judged by the detections (shared/detect), their bodies
 * compressed, and each becomes a flat record at once; the finished batch goes to the store's
 * writer (storage/port.ts), which only interns and inserts. Composed once per thread by the
 * composition root (serve, ingest; the webhook's body thread).
 */
export class IngestPipeline {
  readonly redact: Redactor;
  /** Shared by the builders, so that each user is serialized and judged once. */
  private readonly principals: PrincipalCache;
  private readonly detect: FindingSource | undefined;

  constructor(readonly options: PipelineOptions) {
    this.redact = createRedactor(options.redactionKey);
    this.principals = new PrincipalCache(undefined, options.splitTokens);
    const detector = options.detector;
    this.detect = detector ? (parsed, cluster, principals) => detector.detect(parsed, cluster, principals) : undefined;
  }

  /** A builder of one batch, event by event: a source that reads events one at a time (files) keeps one. */
  builder(cluster: string, source: string): RecordBatchBuilder {
    return new RecordBatchBuilder(this.redact, cluster, source, this.detect, this.principals);
  }

  /** One whole batch (a webhook body, a Kafka message batch) as records: after this, its parsed events may die. */
  prepare(batch: WriteBatch): RecordBatch {
    const builder = this.builder(batch.cluster, batch.source);
    for (const e of batch.events) builder.addEvent(e);
    for (const r of batch.rejected) builder.addRejected(r);
    return builder.finish();
  }
}

/** Whether users are stored split from their tokens: unless an identity-map rule tells tokens apart. */
export function splitsTokens(identityMap: readonly IdentityRule[]): boolean {
  return !identityMapReadsTokens(identityMap);
}
