import { inflateRawSync } from 'node:zlib';
import type { CredentialKind, IdentityKind } from '../identity/identity.js';
import { joinUser } from '../identity/userParts.js';
import { keyToAuditId } from './auditId.js';
import { recordToEvent, storedDecision, type Decision, type EventRecord } from './eventRecord.js';
import type { ActorIdentity, StoredEvent } from './sqlite/queries/eventQuery.js';

/**
 * A stored event as a backend's select gives it, columns joined with their dimensions, and how
 * it becomes the event it was (recordToEvent): the same for every backend.
 */

/**
 * The columns of an `events` row `e` and of its dimensions, and the joins that bring them: the
 * part of a rebuilding select every backend shares (SQLite adds the identity and checkout).
 */
export const EVENT_SELECT_COLUMNS = `e.id, e.audit_id, e.cluster_id, e.stage, e.level, e.received_at, e.stage_delay, e.resource_version, e.query,
    e.code, e.decision, e.shape, e.residual, e.source_version, e.has_body,
    c.value AS cluster, v.verb AS verb, u.json AS user, ut.json AS token_json, ut.credential_id AS token_credential, u.username AS username,
    iu.json AS imp_json, iu.username AS imp_username, sip.value AS source_ips, ua.value AS user_agent,
    ar.api_group, ar.api_version, ar.resource, ar.subresource, ar.present,
    o.namespace, o.name, o.uid, p.value AS path, rs.value AS reason, an.value AS annotations`;

export const EVENT_JOINS = `JOIN strings c ON c.id = e.cluster_id
  JOIN verbs v ON v.id = e.verb_id
  JOIN principals u ON u.id = e.user_id
  LEFT JOIN user_tokens ut ON ut.id = e.token_id
  LEFT JOIN principals iu ON iu.id = e.impersonated_id
  LEFT JOIN strings sip ON sip.id = e.source_ips_id
  LEFT JOIN strings ua ON ua.id = e.user_agent_id
  LEFT JOIN api_resources ar ON ar.id = e.resource_id
  LEFT JOIN objects o ON o.id = e.object_id
  LEFT JOIN strings p ON p.id = e.path_id
  LEFT JOIN strings rs ON rs.id = e.reason_id
  LEFT JOIN strings an ON an.id = e.annotations_id`;

export interface BodyRow {
  request: Buffer | null;
  response: Buffer | null;
}

export function readBodies(row: BodyRow | undefined): { requestObject?: unknown; responseObject?: unknown } {
  const out: { requestObject?: unknown; responseObject?: unknown } = {};
  if (row?.request) out.requestObject = JSON.parse(inflateRawSync(row.request).toString('utf8'));
  if (row?.response) out.responseObject = JSON.parse(inflateRawSync(row.response).toString('utf8'));
  return out;
}

/** A joined row of SELECT. */
export interface JoinedRow {
  id: number;
  audit_id: Buffer | string;
  cluster_id: number;
  stage: number;
  level: number;
  received_at: number;
  stage_delay: number;
  resource_version: number | null;
  query: string | null;
  code: number | null;
  decision: Decision;
  shape: number;
  residual: string | null;
  source_version: number;
  has_body: number;
  cluster: string;
  verb: string;
  user: string;
  token_json: string | null;
  token_credential: string | null;
  username: string;
  imp_json: string | null;
  imp_username: string | null;
  source_ips: string | null;
  user_agent: string | null;
  api_group: string | null;
  api_version: string | null;
  resource: string | null;
  subresource: string | null;
  present: number | null;
  namespace: string | null;
  name: string | null;
  uid: string | null;
  path: string | null;
  reason: string | null;
  annotations: string | null;
  actor_kind: IdentityKind | null;
  actor_key: string | null;
  person: string | null;
  team: string | null;
  credential_kind: CredentialKind | null;
  credential_id: string | null;
  checkout_id: number | null;
  checkout_person: string | null;
}

export function* mapRows(rows: IterableIterator<JoinedRow>): IterableIterator<StoredEvent> {
  for (const row of rows) {
    const actor: ActorIdentity | null =
      row.actor_kind === null
        ? null
        : {
            kind: row.actor_kind,
            key: row.actor_key!,
            person: row.checkout_person ?? row.person,
            team: row.team,
            checkout: row.checkout_id,
            credentialKind: row.credential_kind!,
            credentialId: row.credential_id,
          };
    const position = { receivedAt: row.received_at, auditKey: row.audit_id, clusterId: row.cluster_id };
    yield { id: row.id, cluster: row.cluster, event: recordToEvent(rowToRecord(row)), hasBody: row.has_body === 1, actor, decision: storedDecision(row.decision, row.shape), position };
  }
}

export function rowToRecord(row: JoinedRow): EventRecord {
  const hasRef = row.resource !== null;
  return {
    cluster: row.cluster,
    auditID: keyToAuditId(row.audit_id),
    stage: row.stage,
    level: row.level,
    receivedAt: row.received_at,
    stageDelay: row.stage_delay,
    verb: row.verb,
    user: joinUser(row.user, row.token_json === null ? null : { json: row.token_json, credentialId: row.token_credential }),
    username: row.username,
    impersonatedUser: row.imp_json,
    impersonatedUsername: row.imp_username,
    sourceIPs: row.source_ips,
    userAgent: row.user_agent,
    apiResource: hasRef
      ? { apiGroup: row.api_group!, apiVersion: row.api_version!, resource: row.resource!, subresource: row.subresource!, present: row.present! }
      : null,
    object: hasRef ? { apiGroup: row.api_group!, resource: row.resource!, namespace: row.namespace!, name: row.name!, uid: row.uid! } : null,
    resourceVersion: row.resource_version,
    path: row.path,
    query: row.query,
    code: row.code,
    decision: row.decision,
    reason: row.reason,
    annotations: row.annotations,
    shape: row.shape,
    residual: row.residual,
    sourceVersion: row.source_version,
  };
}
