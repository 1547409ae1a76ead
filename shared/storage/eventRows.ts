import type { Redactor } from '../audit/redact.js';
import type { ParsedEvent, RejectedInput } from '../audit/types.js';
import { auditIdToKey } from './auditId.js';
import { apiResourceKey, apiResourceParams, objectKey, objectParams, type DimensionName, type Dimensions } from './dimensions.js';
import type { ApiResourceKey, ObjectKey } from './eventRecord.js';
import type { Finding } from '../detect/types.js';
import { PrincipalCache, type EventPrincipals, type Principal } from '../identity/principals.js';
import type { FindingRow } from './alertStore.js';
import { prepareEvent, type WriteBatch } from './prepareEvent.js';
import { atomParams, attributeKey, countsAsUse, mayHaveStarted, type AttributeKey } from './usageRollups.js';

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
 * One event's columns before interning: the EventRecord flattened into an array of strings and
 * numbers, which is what crosses to the writer thread (flat arrays clone far cheaper than
 * objects). `hasRef` is false for non-resource requests.
 */
export type RecordRow = [
  auditID: string,
  stage: number,
  level: number,
  receivedAt: number,
  stageDelay: number,
  verb: string,
  /** Index of the user, and of the impersonated user, in the batch's `principals`. */
  user: number,
  impersonatedUser: number | null,
  sourceIPs: string | null,
  userAgent: string | null,
  hasRef: boolean,
  apiGroup: string,
  apiVersion: string,
  resource: string,
  subresource: string,
  present: number,
  namespace: string,
  name: string,
  uid: string,
  resourceVersion: number | null,
  path: string | null,
  query: string | null,
  code: number | null,
  decision: number,
  reason: string | null,
  annotations: string | null,
  shape: number,
  residual: string | null,
  sourceVersion: number,
  hasBody: number,
];

/** A batch as flat records: what the writer thread receives. */
export interface RecordBatch {
  cluster: string;
  source: string;
  records: RecordRow[];
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
}

/** Finds what the detections say of one event (shared/detect). */
export type FindingSource = (parsed: ParsedEvent, cluster: string, principals: EventPrincipals) => Finding[];

/** A batch as rows of ids, ready to insert. */
export interface RowBatch extends Omit<RecordBatch, 'records' | 'principals'> {
  clusterId: number;
  rows: EventRow[];
  /** The auditID of each row, as text, when the batch has findings (else empty). */
  auditIDs: string[];
  /** Per row: the usage_atoms id of the request's attributes when its stage counts as its action's use (usageRollups.ts), else -1. */
  usage: number[];
  /** Rows of which another stage may also count as use (long-running requests): look before counting. */
  usageProbe: Set<number>;
  /** Rows of TokenRequests that minted a token: row index → its credential id (JTI=…). */
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

  constructor(
    private readonly redact: Redactor,
    cluster: string,
    source: string,
    private readonly detect?: FindingSource,
    private readonly principals = new PrincipalCache(),
  ) {
    this.batch = { cluster, source, records: [], principals: [], positions: [], requests: [], responses: [], rejected: [], findings: [] };
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
    const actorIndex = this.indexOf(actor);
    const impersonatedIndex = impersonated ? this.indexOf(impersonated) : null;
    this.batch.records.push([
      r.auditID, r.stage, r.level, r.receivedAt, r.stageDelay, r.verb, actorIndex,
      impersonatedIndex, r.sourceIPs, r.userAgent, ar !== null, ar?.apiGroup ?? '', ar?.apiVersion ?? '',
      ar?.resource ?? '', ar?.subresource ?? '', ar?.present ?? 0, o?.namespace ?? '', o?.name ?? '', o?.uid ?? '',
      r.resourceVersion, r.path, r.query, r.code, r.decision, r.reason, r.annotations, r.shape, r.residual,
      r.sourceVersion, request !== null || response !== null ? 1 : 0,
    ]);
    this.batch.positions.push(parsed.position);
    this.batch.requests.push(request);
    this.batch.responses.push(response);
    if (this.detect) {
      const index = this.batch.records.length - 1;
      for (const f of this.detect(parsed, this.batch.cluster, { actor, impersonated })) {
        this.batch.findings.push([index, f.rule, f.severity, f.key, f.message, f.actor, f.effectiveUser, f.identity, f.owner ?? null]);
      }
    }
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
 * Turns flat records into rows of ids. Values already interned get their ids from the cache;
 * the others are written together first, in a transaction of their own (see Dimensions).
 */
export function recordsToRows(batches: RecordBatch[], dims: Dimensions, atoms?: UsageAtomCache): RowBatch[] {
  dims.startBatch();
  const patches: [EventRow, number, DimensionName, string][] = [];
  const id = (row: EventRow, column: number, name: DimensionName, key: string, params?: () => unknown[]): number => {
    const known = dims.lookup(name, key);
    if (known !== undefined) return known;
    dims.want(name, key, params ? params() : [key]);
    patches.push([row, column, name, key]);
    return 0;
  };
  const str = (row: EventRow, column: number, v: string | null) => (v === null ? null : id(row, column, 'strings', v));
  const out = batches.map((b): RowBatch => {
    dims.want('strings', b.cluster, [b.cluster]);
    // Users repeat: each batch names each one once, and its rows refer to it by index.
    for (const [json, username] of b.principals) if (dims.lookup('principals', json) === undefined) dims.want('principals', json, [json, username]);
    const rows = b.records.map((f) => {
      const row = new Array(24) as EventRow;
      row[0] = 0; // the cluster id, set below
      row[1] = auditIdToKey(f[0]);
      row[2] = f[1];
      row[3] = f[2];
      row[4] = f[3];
      row[5] = f[4];
      row[6] = id(row, 6, 'verbs', f[5]);
      row[7] = 0; // the user ids, set below
      row[8] = null;
      row[9] = str(row, 9, f[8]);
      row[10] = str(row, 10, f[9]);
      if (f[10]) {
        const ar: ApiResourceKey = { apiGroup: f[11], apiVersion: f[12], resource: f[13], subresource: f[14], present: f[15] };
        const o: ObjectKey = { apiGroup: f[11], resource: f[13], namespace: f[16], name: f[17], uid: f[18] };
        row[11] = id(row, 11, 'apiResources', apiResourceKey(ar), () => apiResourceParams(ar));
        row[12] = id(row, 12, 'objects', objectKey(o), () => objectParams(o));
      } else {
        row[11] = null;
        row[12] = null;
      }
      row[13] = f[19];
      row[14] = str(row, 14, f[20]);
      row[15] = f[21];
      row[16] = f[22];
      row[17] = f[23];
      row[18] = str(row, 18, f[24]);
      row[19] = str(row, 19, f[25]);
      row[20] = f[26];
      row[21] = f[27];
      row[22] = f[28];
      row[23] = f[29];
      return row;
    });
    const issued = new Map<number, string>();
    b.records.forEach((f, i) => {
      // Rare: look closer only at annotations that mention the key.
      if (f[25]?.includes(ISSUED_CREDENTIAL)) {
        const id = (JSON.parse(f[25]) as Record<string, string>)[ISSUED_CREDENTIAL];
        if (id) issued.set(i, id);
      }
    });
    const usageProbe = new Set<number>();
    b.records.forEach((f, i) => {
      if (f[1] === 1 || (countsAsUse(f[1]) && mayHaveStarted(f[5], f[14]))) usageProbe.add(i);
    });
    const { records, principals, ...rest } = b;
    return { ...rest, clusterId: 0, rows, auditIDs: b.findings.length > 0 ? records.map((f) => f[0]) : [], issued, usage: [], usageProbe };
  });
  // Requests (usage_atoms) are found before the values are written, so that new ones go with them.
  const pendingAtoms = atoms?.prepare(batches, out, dims);
  dims.resolve();
  for (const [row, column, name, key] of patches) row[column] = dims.id(name, key);
  out.forEach((b, i) => {
    b.clusterId = dims.id('strings', b.cluster);
    const { records, principals } = batches[i]!;
    const userIds = principals.map(([json]) => dims.id('principals', json));
    b.rows.forEach((row, r) => {
      const f = records[r]!;
      row[0] = b.clusterId;
      row[7] = userIds[f[6]]!;
      row[8] = f[7] === null ? null : userIds[f[7]]!;
    });
  });
  if (atoms && pendingAtoms) atoms.finish(pendingAtoms, dims);
  return out;
}

/**
 * The usage_atoms id of each row that counts as use (usageRollups.ts), found from ids the row
 * already has — verb, API resource, object, path, and the query of a list or watch by field
 * selector — so that the attributes are spelled out only for a combination not seen lately.
 */
export class UsageAtomCache {
  /** By object id (or minus one minus the path id, for a non-resource request): the newest entry; `next` chains older ones. */
  private first = new Map<number, number>();
  /** Per entry: verb id, API resource id, path id (-1 for none), next, atom id. */
  private ints = new Int32Array(5 * 1024);
  private queries: string[] = [];
  private size = 0;

  constructor(private readonly maxEntries = 100_000) {}

  private find(head: number | undefined, verb: number, resource: number, path: number, query: string): number {
    for (let i = head ?? -1; i >= 0; i = this.ints[i * 5 + 3]!) {
      const o = i * 5;
      if (this.ints[o] === verb && this.ints[o + 1] === resource && this.ints[o + 2] === path && this.queries[i] === query) return this.ints[o + 4]!;
    }
    return -1;
  }

  private remember(key: number, verb: number, resource: number, path: number, query: string, atom: number): void {
    if (this.size >= this.maxEntries) {
      this.first = new Map();
      this.queries = [];
      this.size = 0;
    }
    const n = this.size++;
    if (n * 5 >= this.ints.length) {
      const ints = new Int32Array(this.ints.length * 2);
      ints.set(this.ints);
      this.ints = ints;
    }
    const o = n * 5;
    this.ints[o] = verb;
    this.ints[o + 1] = resource;
    this.ints[o + 2] = path;
    this.ints[o + 3] = this.first.get(key) ?? -1;
    this.ints[o + 4] = atom;
    this.queries[n] = query;
    this.first.set(key, n);
  }

  /**
   * Before the batch's new values are written: the request of each row that counts as use,
   * from the cache when the row's ids are known, else spelled out and looked up — or wanted,
   * to be written with the other new values. Returns those still to be given their id.
   */
  prepare(batches: RecordBatch[], rows: RowBatch[], dims: Dimensions): PendingAtom[] {
    const pending: PendingAtom[] = [];
    rows.forEach((b, i) => {
      const records = batches[i]!.records;
      b.usage = b.rows.map((row, r) => {
        const f = records[r]!;
        if (!countsAsUse(f[1])) return -1;
        // Only a list or watch by field selector takes its name from the query.
        const query = f[21] !== null && (f[5] === 'list' || f[5] === 'watch') && f[21].includes('fieldSelector') ? f[21] : '';
        // An id of 0 is a value not yet written (recordsToRows): no cache entry can match it.
        const known = row[6] !== 0 && row[11] !== 0 && row[12] !== 0 && row[14] !== 0;
        const path = row[14] ?? -1;
        const key = row[12] ?? -2 - path;
        const resource = row[11] ?? -1;
        if (known) {
          const atom = this.find(this.first.get(key), row[6], resource, path, query);
          if (atom >= 0) return atom;
        }
        const attributes = attributeKey(f[5], f[10] ? { apiGroup: f[11], resource: f[13], subresource: f[14], namespace: f[16], name: f[17] } : null, f[20], f[21]);
        const id = dims.lookup('usageAtoms', attributes);
        if (id !== undefined && known) {
          this.remember(key, row[6], resource, path, query, id);
          return id;
        }
        if (id === undefined) dims.want('usageAtoms', attributes, atomParams(attributes));
        pending.push({ batch: b, row: r, query, attributes });
        return -1;
      });
    });
    return pending;
  }

  /** After the new values are written: the ids of the requests prepare() left pending, remembered by the row's ids. */
  finish(pending: PendingAtom[], dims: Dimensions): void {
    for (const p of pending) {
      const id = dims.id('usageAtoms', p.attributes);
      const row = p.batch.rows[p.row]!;
      p.batch.usage[p.row] = id;
      const path = row[14] ?? -1;
      const key = row[12] ?? -2 - path;
      const resource = row[11] ?? -1;
      if (this.find(this.first.get(key), row[6], resource, path, p.query) < 0) this.remember(key, row[6], resource, path, p.query, id);
    }
  }
}

interface PendingAtom {
  batch: RowBatch;
  row: number;
  query: string;
  attributes: AttributeKey;
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
