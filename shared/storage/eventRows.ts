import type { Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { auditIdToKey } from './auditId.js';
import { apiResourceKey, apiResourceParams, objectKey, objectParams, type DimensionName, type Dimensions } from './dimensions.js';
import type { ApiResourceKey, ObjectKey } from './eventRecord.js';
import { prepareEvent, type WriteBatch } from './prepareBatch.js';

/**
 * The values of one `events` row, in the column order of INSERT_EVENT: numbers, ids of
 * dimension rows, and a few short strings. Plain arrays, cheap to send to the writer thread.
 */
export type EventRow = [
  clusterId: number,
  auditKey: Uint8Array | string,
  stage: number,
  level: number,
  receivedAt: number,
  stageDelay: number,
  verbId: number,
  userId: number,
  impersonatedId: number | null,
  sourceIpsId: number | null,
  userAgentId: number | null,
  resourceId: number | null,
  objectId: number | null,
  resourceVersion: number | null,
  pathId: number | null,
  query: string | null,
  code: number | null,
  decision: number,
  reasonId: number | null,
  annotationsId: number | null,
  shape: number,
  residual: string | null,
  sourceVersion: number,
  hasBody: number,
];

export const EVENT_COLUMNS = [
  'cluster_id', 'audit_id', 'stage', 'level', 'received_at', 'stage_delay', 'verb_id', 'user_id', 'impersonated_id',
  'source_ips_id', 'user_agent_id', 'resource_id', 'object_id', 'resource_version', 'path_id', 'query', 'code',
  'decision', 'reason_id', 'annotations_id', 'shape', 'residual', 'source_version', 'has_body',
] as const;

/** Inserts one row; a row with the key of a stored one is skipped (a duplicate). */
export const INSERT_EVENT = `INSERT INTO events (${EVENT_COLUMNS.join(', ')})
  VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (cluster_id, audit_id, stage) DO NOTHING`;

/** A batch as rows: what the writer thread receives. */
export interface RowBatch {
  cluster: string;
  clusterId: number;
  source: string;
  rows: EventRow[];
  /** Per row: where it came from, for quarantining a conflicting duplicate. */
  positions: string[];
  /** Per row: compressed request and response bodies, or null. */
  requests: (Uint8Array | null)[];
  responses: (Uint8Array | null)[];
  rejected: RejectedInput[];
}

/**
 * Builds one RowBatch event by event, so that each parsed event becomes a compact row at once
 * and the parsed object can die young (holding a batch of parsed events costs memory and GC).
 * Values already interned get their ids right away; the others are written together by
 * `finish()` (see Dimensions) and patched in.
 */
export class RowBatchBuilder {
  private readonly batch: RowBatch;
  private readonly patches: [EventRow, number, DimensionName, string][] = [];

  constructor(private readonly dims: Dimensions, private readonly redact: Redactor, cluster: string, source: string) {
    this.batch = { cluster, clusterId: 0, source, rows: [], positions: [], requests: [], responses: [], rejected: [] };
  }

  /** Events and rejected input added so far. */
  get size(): number {
    return this.batch.rows.length + this.batch.rejected.length;
  }

  addRejected(rejected: RejectedInput): void {
    this.batch.rejected.push(rejected);
  }

  addEvent(parsed: ParsedEvent): void {
    const { record: r, request, response } = prepareEvent(parsed, this.batch.cluster, this.redact);
    const row = new Array(24) as EventRow;
    row[0] = 0; // the cluster id, set by finish()
    row[1] = auditIdToKey(r.auditID);
    row[2] = r.stage;
    row[3] = r.level;
    row[4] = r.receivedAt;
    row[5] = r.stageDelay;
    row[6] = this.id(row, 6, 'verbs', r.verb);
    row[7] = this.id(row, 7, 'principals', r.user, r.username);
    row[8] = r.impersonatedUser === null ? null : this.id(row, 8, 'principals', r.impersonatedUser, r.impersonatedUsername!);
    row[9] = this.str(row, 9, r.sourceIPs);
    row[10] = this.str(row, 10, r.userAgent);
    row[11] = r.apiResource && this.id(row, 11, 'apiResources', apiResourceKey(r.apiResource), r.apiResource);
    row[12] = r.object && this.id(row, 12, 'objects', objectKey(r.object), r.object);
    row[13] = r.resourceVersion;
    row[14] = this.str(row, 14, r.path);
    row[15] = r.query;
    row[16] = r.code;
    row[17] = r.decision;
    row[18] = this.str(row, 18, r.reason);
    row[19] = this.str(row, 19, r.annotations);
    row[20] = r.shape;
    row[21] = r.residual;
    row[22] = r.sourceVersion;
    row[23] = request !== null || response !== null ? 1 : 0;
    this.batch.rows.push(row);
    this.batch.positions.push(parsed.position);
    this.batch.requests.push(request);
    this.batch.responses.push(response);
  }

  /** Interns what is new (one short transaction), patches the rows and returns the batch. */
  finish(): RowBatch {
    const { dims, batch } = this;
    dims.want('strings', batch.cluster, [batch.cluster]);
    dims.resolve();
    for (const [row, column, name, key] of this.patches) row[column] = dims.id(name, key);
    batch.clusterId = dims.id('strings', batch.cluster);
    for (const row of batch.rows) row[0] = batch.clusterId;
    return batch;
  }

  /** `source` gives the insert's parameters, built only for values not yet known. */
  private id(row: EventRow, column: number, name: DimensionName, key: string, source?: string | ApiResourceKey | ObjectKey): number {
    const known = this.dims.lookup(name, key);
    if (known !== undefined) return known;
    this.dims.want(name, key, insertParams(name, key, source));
    this.patches.push([row, column, name, key]);
    return 0;
  }

  private str(row: EventRow, column: number, v: string | null): number | null {
    return v === null ? null : this.id(row, column, 'strings', v);
  }
}

/** Rows of whole batches at once. */
export function batchesToRows(batches: WriteBatch[], dims: Dimensions, redact: Redactor): RowBatch[] {
  return batches.map((b) => {
    const builder = new RowBatchBuilder(dims, redact, b.cluster, b.source);
    for (const e of b.events) builder.addEvent(e);
    for (const r of b.rejected) builder.addRejected(r);
    return builder.finish();
  });
}

function insertParams(name: DimensionName, key: string, source?: string | ApiResourceKey | ObjectKey): unknown[] {
  switch (name) {
    case 'principals':
      return [key, source];
    case 'apiResources':
      return apiResourceParams(source as ApiResourceKey);
    case 'objects':
      return objectParams(source as ObjectKey);
    default:
      return [key];
  }
}
