import type { FindingRow } from './findingAlert.js';
import type { RejectedInput } from '../audit/types.js';
import { joinParts } from '../partsKey.js';
import type { ApiResourceKey, ObjectKey } from './eventRecord.js';

/**
 * A finished batch, as the store takes it (storage/port.ts): the pipeline (shared/pipeline)
 * builds it on the thread that parses, the store interns and inserts it on the writer thread.
 * Flat records of numbers, and the distinct values they refer to, so that a batch crosses
 * threads as a few arrays.
 */

/**
 * The dimensions whose values a batch carries in its `values` table, by the index
 * `valueDimensions` gives each value (principals travel apart, with their usernames).
 */
export const VALUE_DIMENSIONS = ['strings', 'verbs', 'apiResources', 'objects', 'usageAtoms'] as const;
export const [STRING, VERB, API_RESOURCE, OBJECT, USAGE_ATOM] = [0, 1, 2, 3, 4];

/**
 * Where each number of one event's record goes before interning: RECORD_WIDTH numbers per
 * record in a batch's `numbers`. A value to intern is an index into the batch's `values` (-1
 * for none), so that each distinct value crosses to the writer thread and is looked up there
 * once per batch; `user` and `impersonatedUser` index the batch's `principals`. A null number
 * is NaN. One typed array per batch clones in a single copy, where an array per record cost the
 * parsing thread a microsecond an event to send and the writer as much to receive.
 */
export const F = {
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
export const RECORD_WIDTH = Object.keys(F).length;

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

/** The earliest request time (microseconds) of a batch's records; Infinity when it has none. */
export function oldestReceivedAt(b: RecordBatch): number {
  let oldest = Infinity;
  for (let at = F.receivedAt; at < b.size * RECORD_WIDTH; at += RECORD_WIDTH) oldest = Math.min(oldest, b.numbers[at]!);
  return oldest;
}

export function apiResourceKey(k: ApiResourceKey): string {
  return joinParts([k.apiGroup, k.apiVersion, k.resource, k.subresource, String(k.present)]);
}

export function objectKey(k: ObjectKey): string {
  return joinParts([k.apiGroup, k.resource, k.namespace, k.name, k.uid]);
}

/** What tells one token's row from another: its values and its credential id. */
export function tokenKey(json: string, credentialId: string | null): string {
  return credentialId === null ? json : `${json}\u0000${credentialId}`;
}
