import type { Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { auditIdToKey } from './auditId.js';
import { apiResourceKey, dimensionParams, objectKey, type Dimensions } from './dimensions.js';
import type { Finding } from '../detect/types.js';
import { PrincipalCache, type EventPrincipals, type Principal } from '../identity/principals.js';
import type { FindingRow } from './alertStore.js';
import { prepareEvent, type WriteBatch } from './prepareEvent.js';
import { attributeKey, countsAsUse, mayHaveStarted } from './usageRollups.js';

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
  ON CONFLICT (received_at, audit_id, stage, cluster_id) DO NOTHING`;

/**
 * The dimensions whose values a batch carries in its `values` table, by the index
 * `valueDimensions` gives each value (principals travel apart, with their usernames).
 */
const VALUE_DIMENSIONS = ['strings', 'verbs', 'apiResources', 'objects', 'usageAtoms'] as const;
const [STRING, VERB, API_RESOURCE, OBJECT, USAGE_ATOM] = [0, 1, 2, 3, 4];

/**
 * One event's columns before interning: what crosses to the writer thread (flat arrays clone
 * far cheaper than objects). A value to intern is an index into the batch's `values`, -1 for
 * none, so that each distinct value crosses and is looked up once per batch.
 */
export type RecordRow = [
  auditID: string,
  stage: number,
  level: number,
  receivedAt: number,
  stageDelay: number,
  verb: number,
  /** Index of the user, and of the impersonated user, in the batch's `principals`. */
  user: number,
  impersonatedUser: number | null,
  sourceIPs: number,
  userAgent: number,
  /** -1 for a non-resource request. */
  apiResource: number,
  object: number,
  resourceVersion: number | null,
  path: number,
  query: string | null,
  code: number | null,
  decision: number,
  reason: number,
  annotations: number,
  shape: number,
  residual: string | null,
  sourceVersion: number,
  hasBody: number,
  /** The request's attributes (usage_atoms) when this stage counts as its action's use (usageRollups.ts), else -1. */
  usageAtom: number,
];

/** A batch as flat records: what the writer thread receives. */
export interface RecordBatch {
  cluster: string;
  source: string;
  records: RecordRow[];
  /** The distinct values the records refer to, and the dimension of each (VALUE_DIMENSIONS). */
  values: string[];
  valueDimensions: number[];
  /** The distinct users of the records, as JSON, with their usernames. */
  principals: [json: string, username: string][];
  /** Per record: where it came from, for quarantining a conflicting duplicate. */
  positions: string[];
  /** Per record: compressed request and response bodies, or null. */
  requests: (Uint8Array | null)[];
  responses: (Uint8Array | null)[];
  rejected: RejectedInput[];
  /** Findings of the detections, by index of their record, in order. */
  findings: FindingRow[];
  /** Records of which another stage may also count as use (long-running requests): look before counting. */
  usageProbe: number[];
  /** Records of TokenRequests that minted a token, with its credential id (JTI=…). */
  issued: [record: number, credentialId: string][];
}

/** Finds what the detections say of one event (shared/detect). */
export type FindingSource = (parsed: ParsedEvent, cluster: string, principals: EventPrincipals) => Finding[];

/** A batch as rows of ids, ready to insert. */
export interface RowBatch extends Omit<RecordBatch, 'records' | 'principals' | 'values' | 'valueDimensions' | 'usageProbe' | 'issued'> {
  clusterId: number;
  rows: EventRow[];
  /** The auditID of each row, as text, when the batch has findings (else empty). */
  auditIDs: string[];
  /** Per row: the usage_atoms id of the request's attributes when its stage counts as its action's use, else -1. */
  usage: number[];
  usageProbe: Set<number>;
  /** Row index → the credential id its TokenRequest minted. */
  issued: Map<number, string>;
}

const ISSUED_CREDENTIAL = 'authentication.kubernetes.io/issued-credential-id';

/**
 * Collects one batch, event by event: each parsed event becomes a flat record at once, so the
 * parsed object can die young (holding a batch of parsed events costs memory and GC time).
 */
export class RecordBatchBuilder {
  private readonly batch: RecordBatch;
  /** Each principal's index in batch.principals. */
  private readonly principalIndex = new Map<Principal, number>();
  /** Per dimension: each value's index in batch.values. */
  private readonly valueIndex = VALUE_DIMENSIONS.map(() => new Map<string, number>());

  constructor(
    private readonly redact: Redactor,
    cluster: string,
    source: string,
    private readonly detect?: FindingSource,
    private readonly principals = new PrincipalCache(),
  ) {
    this.batch = {
      cluster, source, records: [], values: [], valueDimensions: [], principals: [], positions: [], requests: [], responses: [],
      rejected: [], findings: [], usageProbe: [], issued: [],
    };
  }

  /** Events and rejected input added so far. */
  get size(): number {
    return this.batch.records.length + this.batch.rejected.length;
  }

  addRejected(rejected: RejectedInput): void {
    this.batch.rejected.push(rejected);
  }

  addEvent(parsed: ParsedEvent): void {
    const e = parsed.event;
    const actor = this.principals.of(e.user);
    const impersonated = e.impersonatedUser ? this.principals.of(e.impersonatedUser) : null;
    const users = { user: actor.json, impersonatedUser: impersonated?.json ?? null };
    const { record: r, request, response } = prepareEvent(parsed, this.batch.cluster, this.redact, users);
    const ar = r.apiResource;
    const o = r.object;
    const index = this.batch.records.length;
    const uses = countsAsUse(r.stage);
    const atom = uses ? attributeKey(r.verb, ar && o && { apiGroup: ar.apiGroup, resource: ar.resource, subresource: ar.subresource, namespace: o.namespace, name: o.name }, r.path, r.query) : null;
    this.batch.records.push([
      r.auditID, r.stage, r.level, r.receivedAt, r.stageDelay, this.value(VERB, r.verb), this.indexOf(actor),
      impersonated ? this.indexOf(impersonated) : null, this.value(STRING, r.sourceIPs), this.value(STRING, r.userAgent),
      this.value(API_RESOURCE, ar && apiResourceKey(ar)), this.value(OBJECT, o && objectKey(o)), r.resourceVersion,
      this.value(STRING, r.path), r.query, r.code, r.decision, this.value(STRING, r.reason), this.value(STRING, r.annotations),
      r.shape, r.residual, r.sourceVersion, request !== null || response !== null ? 1 : 0, this.value(USAGE_ATOM, atom),
    ]);
    if (r.stage === 1 || (uses && mayHaveStarted(r.verb, ar?.subresource ?? ''))) this.batch.usageProbe.push(index);
    // Rare: look closer only at annotations that mention the key.
    if (r.annotations?.includes(ISSUED_CREDENTIAL)) {
      const id = (JSON.parse(r.annotations) as Record<string, string>)[ISSUED_CREDENTIAL];
      if (id) this.batch.issued.push([index, id]);
    }
    this.batch.positions.push(parsed.position);
    this.batch.requests.push(request);
    this.batch.responses.push(response);
    if (this.detect) {
      for (const f of this.detect(parsed, this.batch.cluster, { actor, impersonated })) {
        this.batch.findings.push([index, f.rule, f.severity, f.key, f.message, f.actor, f.effectiveUser, f.identity, f.owner ?? null]);
      }
    }
  }

  private value(dimension: number, v: string | null): number {
    if (v === null) return -1;
    const index = this.valueIndex[dimension]!;
    let i = index.get(v);
    if (i === undefined) {
      i = this.batch.values.push(v) - 1;
      this.batch.valueDimensions.push(dimension);
      index.set(v, i);
    }
    return i;
  }

  private indexOf(p: Principal): number {
    let i = this.principalIndex.get(p);
    if (i === undefined) {
      i = this.batch.principals.push([p.json, p.username]) - 1;
      this.principalIndex.set(p, i);
    }
    return i;
  }

  finish(): RecordBatch {
    return this.batch;
  }
}

/**
 * Turns flat records into rows of ids. Each batch's distinct values are looked up once; values
 * not interned yet are written together first, in a transaction of their own (see Dimensions).
 */
export function recordsToRows(batches: RecordBatch[], dims: Dimensions): RowBatch[] {
  dims.startBatch();
  for (const b of batches) {
    dims.want('strings', b.cluster, [b.cluster]);
    for (const [json, username] of b.principals) if (dims.lookup('principals', json) === undefined) dims.want('principals', json, [json, username]);
    b.values.forEach((v, i) => {
      const name = VALUE_DIMENSIONS[b.valueDimensions[i]!]!;
      if (dims.lookup(name, v) === undefined) dims.want(name, v, dimensionParams(name, v));
    });
  }
  dims.resolve();
  return batches.map((b): RowBatch => {
    const clusterId = dims.id('strings', b.cluster);
    const userIds = b.principals.map(([json]) => dims.id('principals', json));
    const ids = b.values.map((v, i) => dims.id(VALUE_DIMENSIONS[b.valueDimensions[i]!]!, v));
    const at = (i: number): number | null => (i < 0 ? null : ids[i]!);
    const rows = b.records.map((f): EventRow => [
      clusterId, auditIdToKey(f[0]), f[1], f[2], f[3], f[4], ids[f[5]]!, userIds[f[6]]!, f[7] === null ? null : userIds[f[7]]!,
      at(f[8]), at(f[9]), at(f[10]), at(f[11]), f[12], at(f[13]), f[14], f[15], f[16], at(f[17]), at(f[18]), f[19], f[20], f[21], f[22],
    ]);
    const { records, principals, values, valueDimensions, usageProbe, issued, ...rest } = b;
    return {
      ...rest,
      clusterId,
      rows,
      auditIDs: b.findings.length > 0 ? records.map((f) => f[0]) : [],
      usage: records.map((f) => (f[23] < 0 ? -1 : ids[f[23]]!)),
      usageProbe: new Set(usageProbe),
      issued: new Map(issued),
    };
  });
}

/** Flat records of whole batches at once. */
export function batchesToRecords(batches: WriteBatch[], redact: Redactor, detect?: FindingSource): RecordBatch[] {
  const principals = new PrincipalCache();
  return batches.map((b) => {
    const builder = new RecordBatchBuilder(redact, b.cluster, b.source, detect, principals);
    for (const e of b.events) builder.addEvent(e);
    for (const r of b.rejected) builder.addRejected(r);
    return builder.finish();
  });
}
