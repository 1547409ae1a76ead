import type { Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { auditIdToKey } from './auditId.js';
import { apiResourceKey, dimensionParams, objectKey, tokenKey, type Dimensions } from './dimensions.js';
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
  /** The actor's token (user_tokens), when its user is stored split (identity/userParts.ts). */
  tokenId: number | null,
];

export const EVENT_COLUMNS = [
  'cluster_id', 'audit_id', 'stage', 'level', 'received_at', 'stage_delay', 'verb_id', 'user_id', 'impersonated_id',
  'source_ips_id', 'user_agent_id', 'resource_id', 'object_id', 'resource_version', 'path_id', 'query', 'code',
  'decision', 'reason_id', 'annotations_id', 'shape', 'residual', 'source_version', 'has_body', 'token_id',
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
 * Where each number of one event's record goes before interning: RECORD_WIDTH numbers per
 * record in a batch's `numbers`. A value to intern is an index into the batch's `values` (-1
 * for none), so that each distinct value crosses to the writer thread and is looked up there
 * once per batch; `user` and `impersonatedUser` index the batch's `principals`. A null number
 * is NaN. One typed array per batch clones in a single copy, where an array per record cost the
 * parsing thread a microsecond an event to send and the writer as much to receive.
 */
const F = {
  stage: 0, level: 1, receivedAt: 2, stageDelay: 3, verb: 4, user: 5, impersonatedUser: 6, sourceIPs: 7, userAgent: 8,
  /** -1 for a non-resource request. */
  apiResource: 9,
  object: 10, resourceVersion: 11, path: 12, code: 13, decision: 14, reason: 15, annotations: 16, shape: 17, sourceVersion: 18,
  hasBody: 19,
  /** The request's attributes (usage_atoms) when this stage counts as its action's use (usageRollups.ts), else -1. */
  usageAtom: 20,
  /** The actor's token, an index into the batch's `tokens`; -1 for none. */
  token: 21,
} as const;
const RECORD_WIDTH = Object.keys(F).length;

/** A batch as flat records: what the writer thread receives. */
export interface RecordBatch {
  cluster: string;
  source: string;
  /** Records (events) in the batch. */
  size: number;
  /** RECORD_WIDTH numbers per record (F). */
  numbers: Float64Array;
  /** Per record: its auditID, the query of its request URI, the JSON of the fields no column holds. */
  auditIDs: string[];
  queries: (string | null)[];
  residuals: (string | null)[];
  /** The distinct values the records refer to, and the dimension of each (VALUE_DIMENSIONS). */
  values: string[];
  valueDimensions: number[];
  /** The distinct users of the records, as stored (their stable parts), with their usernames. */
  principals: [json: string, username: string][];
  /** The distinct tokens of the records: the user (index in `principals`) first stored with, own values as JSON, credential id. */
  tokens: [principal: number, json: string, credentialId: string | null][];
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
export interface RowBatch extends Omit<RecordBatch, 'numbers' | 'queries' | 'residuals' | 'principals' | 'tokens' | 'values' | 'valueDimensions' | 'usageProbe' | 'issued'> {
  clusterId: number;
  /**
   * Record r as a row of ids, in one array that the next call overwrites: rows are bound one at
   * a time, and building a transaction's rows at once left the garbage collector tens of
   * thousands of arrays that outlived its young generation.
   */
  row(r: number): EventRow;
  /** The usage_atoms id of record r's attributes when its stage counts as its action's use, else -1. */
  usage(r: number): number;
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
  private numbers = new Float64Array(RECORD_WIDTH * 1024);
  /** Each stored principal's index in batch.principals, by its stored JSON. */
  private readonly principalIndex = new Map<string, number>();
  /** Each token's index in batch.tokens, by its key (tokenKey). */
  private readonly tokenIndex = new Map<string, number>();
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
      cluster, source, size: 0, numbers: new Float64Array(0), auditIDs: [], queries: [], residuals: [], values: [], valueDimensions: [],
      principals: [], tokens: [], positions: [], requests: [], responses: [], rejected: [], findings: [], usageProbe: [], issued: [],
    };
  }

  /** Events and rejected input added so far. */
  get size(): number {
    return this.batch.size + this.batch.rejected.length;
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
    const index = this.batch.size++;
    const uses = countsAsUse(r.stage);
    const atom = uses ? attributeKey(r.verb, ar && o && { apiGroup: ar.apiGroup, resource: ar.resource, subresource: ar.subresource, namespace: o.namespace, name: o.name }, r.path, r.query) : null;
    if ((index + 1) * RECORD_WIDTH > this.numbers.length) this.grow();
    const n = this.numbers;
    const at = index * RECORD_WIDTH;
    n[at + F.stage] = r.stage;
    n[at + F.level] = r.level;
    n[at + F.receivedAt] = r.receivedAt;
    n[at + F.stageDelay] = r.stageDelay;
    n[at + F.verb] = this.value(VERB, r.verb);
    n[at + F.user] = this.indexOf(actor);
    n[at + F.impersonatedUser] = impersonated ? this.indexOf(impersonated) : -1;
    n[at + F.token] = actor.stored.token ? this.tokenOf(actor) : -1;
    n[at + F.sourceIPs] = this.value(STRING, r.sourceIPs);
    n[at + F.userAgent] = this.value(STRING, r.userAgent);
    n[at + F.apiResource] = this.value(API_RESOURCE, ar && apiResourceKey(ar));
    n[at + F.object] = this.value(OBJECT, o && objectKey(o));
    n[at + F.resourceVersion] = r.resourceVersion ?? NaN;
    n[at + F.path] = this.value(STRING, r.path);
    n[at + F.code] = r.code ?? NaN;
    n[at + F.decision] = r.decision;
    n[at + F.reason] = this.value(STRING, r.reason);
    n[at + F.annotations] = this.value(STRING, r.annotations);
    n[at + F.shape] = r.shape;
    n[at + F.sourceVersion] = r.sourceVersion;
    n[at + F.hasBody] = request !== null || response !== null ? 1 : 0;
    n[at + F.usageAtom] = this.value(USAGE_ATOM, atom);
    this.batch.auditIDs.push(r.auditID);
    this.batch.queries.push(r.query);
    this.batch.residuals.push(r.residual);
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
    const json = p.stored.json;
    let i = this.principalIndex.get(json);
    if (i === undefined) {
      i = this.batch.principals.push([json, p.username]) - 1;
      this.principalIndex.set(json, i);
    }
    return i;
  }

  private tokenOf(p: Principal): number {
    const t = p.stored.token!;
    const key = tokenKey(t.json, t.credentialId);
    let i = this.tokenIndex.get(key);
    if (i === undefined) {
      i = this.batch.tokens.push([this.indexOf(p), t.json, t.credentialId]) - 1;
      this.tokenIndex.set(key, i);
    }
    return i;
  }

  /** The batch; its numbers copied to their length, so that sending it copies no spare room. */
  finish(): RecordBatch {
    this.batch.numbers = this.numbers.slice(0, this.batch.size * RECORD_WIDTH);
    return this.batch;
  }

  private grow(): void {
    const n = new Float64Array(this.numbers.length * 2);
    n.set(this.numbers);
    this.numbers = n;
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
    for (const [p, json, credentialId] of b.tokens) {
      const key = tokenKey(json, credentialId);
      if (dims.lookup('userTokens', key) === undefined) dims.want('userTokens', key, [b.principals[p]![0], json, credentialId]);
    }
    b.values.forEach((v, i) => {
      const name = VALUE_DIMENSIONS[b.valueDimensions[i]!]!;
      if (dims.lookup(name, v) === undefined) dims.want(name, v, dimensionParams(name, v));
    });
  }
  dims.resolve();
  return batches.map((b): RowBatch => {
    const clusterId = dims.id('strings', b.cluster);
    const userIds = b.principals.map(([json]) => dims.id('principals', json));
    const tokenIds = b.tokens.map(([, json, credentialId]) => dims.id('userTokens', tokenKey(json, credentialId)));
    const ids = b.values.map((v, i) => dims.id(VALUE_DIMENSIONS[b.valueDimensions[i]!]!, v));
    const { numbers: n, queries, residuals, principals, tokens, values, valueDimensions, usageProbe, issued, ...rest } = b;
    const id = (i: number): number | null => (n[i]! < 0 ? null : ids[n[i]!]!);
    const num = (i: number): number | null => (Number.isNaN(n[i]!) ? null : n[i]!);
    const row = new Array(EVENT_COLUMNS.length) as EventRow;
    return {
      ...rest,
      clusterId,
      row: (r) => {
        const at = r * RECORD_WIDTH;
        row[0] = clusterId;
        row[1] = auditIdToKey(b.auditIDs[r]!);
        row[2] = n[at + F.stage]!;
        row[3] = n[at + F.level]!;
        row[4] = n[at + F.receivedAt]!;
        row[5] = n[at + F.stageDelay]!;
        row[6] = ids[n[at + F.verb]!]!;
        row[7] = userIds[n[at + F.user]!]!;
        row[8] = n[at + F.impersonatedUser]! < 0 ? null : userIds[n[at + F.impersonatedUser]!]!;
        row[9] = id(at + F.sourceIPs);
        row[10] = id(at + F.userAgent);
        row[11] = id(at + F.apiResource);
        row[12] = id(at + F.object);
        row[13] = num(at + F.resourceVersion);
        row[14] = id(at + F.path);
        row[15] = queries[r]!;
        row[16] = num(at + F.code);
        row[17] = n[at + F.decision]!;
        row[18] = id(at + F.reason);
        row[19] = id(at + F.annotations);
        row[20] = n[at + F.shape]!;
        row[21] = residuals[r]!;
        row[22] = n[at + F.sourceVersion]!;
        row[23] = n[at + F.hasBody]!;
        row[24] = n[at + F.token]! < 0 ? null : tokenIds[n[at + F.token]!]!;
        return row;
      },
      usage: (r) => id(r * RECORD_WIDTH + F.usageAtom) ?? -1,
      usageProbe: new Set(usageProbe),
      issued: new Map(issued),
    };
  });
}

/** The earliest request time (microseconds) of a batch's records; Infinity when it has none. */
export function oldestReceivedAt(b: RecordBatch): number {
  let oldest = Infinity;
  for (let at = F.receivedAt; at < b.size * RECORD_WIDTH; at += RECORD_WIDTH) oldest = Math.min(oldest, b.numbers[at]!);
  return oldest;
}

/** Flat records of whole batches at once. */
export function batchesToRecords(batches: WriteBatch[], redact: Redactor, detect?: FindingSource, splitTokens = true): RecordBatch[] {
  const principals = new PrincipalCache(undefined, splitTokens);
  return batches.map((b) => {
    const builder = new RecordBatchBuilder(redact, b.cluster, b.source, detect, principals);
    for (const e of b.events) builder.addEvent(e);
    for (const r of b.rejected) builder.addRejected(r);
    return builder.finish();
  });
}
