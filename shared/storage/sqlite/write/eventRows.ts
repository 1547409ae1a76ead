import { auditIdToKey } from '../../auditId.js';
import { dimensionParams, type Dimensions } from './dimensions.js';
import { F, RECORD_WIDTH, VALUE_DIMENSIONS, tokenKey, type RecordBatch } from '../../recordBatch.js';

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

/** Each column's place in an EventRow, by name: rows are bound positionally, read by name. */
export const COL = {
  cluster: 0,
  auditKey: 1,
  stage: 2,
  level: 3,
  receivedAt: 4,
  stageDelay: 5,
  verb: 6,
  user: 7,
  impersonated: 8,
  sourceIps: 9,
  userAgent: 10,
  resource: 11,
  object: 12,
  resourceVersion: 13,
  path: 14,
  query: 15,
  code: 16,
  decision: 17,
  reason: 18,
  annotations: 19,
  shape: 20,
  residual: 21,
  sourceVersion: 22,
  hasBody: 23,
  token: 24,
} as const;

if (Object.keys(COL).length !== EVENT_COLUMNS.length) throw new Error('internal: COL and EVENT_COLUMNS disagree');

/** Inserts one row; a row with the key of a stored one is skipped (a duplicate). */
export const INSERT_EVENT = `INSERT INTO events (${EVENT_COLUMNS.join(', ')})
  VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (received_at, audit_id, stage, cluster_id) DO NOTHING`;

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
        row[COL.cluster] = clusterId;
        row[COL.auditKey] = auditIdToKey(b.auditIDs[r]!);
        row[COL.stage] = n[at + F.stage]!;
        row[COL.level] = n[at + F.level]!;
        row[COL.receivedAt] = n[at + F.receivedAt]!;
        row[COL.stageDelay] = n[at + F.stageDelay]!;
        row[COL.verb] = ids[n[at + F.verb]!]!;
        row[COL.user] = userIds[n[at + F.user]!]!;
        row[COL.impersonated] = n[at + F.impersonatedUser]! < 0 ? null : userIds[n[at + F.impersonatedUser]!]!;
        row[COL.sourceIps] = id(at + F.sourceIPs);
        row[COL.userAgent] = id(at + F.userAgent);
        row[COL.resource] = id(at + F.apiResource);
        row[COL.object] = id(at + F.object);
        row[COL.resourceVersion] = num(at + F.resourceVersion);
        row[COL.path] = id(at + F.path);
        row[COL.query] = queries[r]!;
        row[COL.code] = num(at + F.code);
        row[COL.decision] = n[at + F.decision]!;
        row[COL.reason] = id(at + F.reason);
        row[COL.annotations] = id(at + F.annotations);
        row[COL.shape] = n[at + F.shape]!;
        row[COL.residual] = residuals[r]!;
        row[COL.sourceVersion] = n[at + F.sourceVersion]!;
        row[COL.hasBody] = n[at + F.hasBody]!;
        row[COL.token] = n[at + F.token]! < 0 ? null : tokenIds[n[at + F.token]!]!;
        return row;
      },
      usage: (r) => id(r * RECORD_WIDTH + F.usageAtom) ?? -1,
      usageProbe: new Set(usageProbe),
      issued: new Map(issued),
    };
  });
}
