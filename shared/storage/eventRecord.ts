import { decisionOf, type AuthorizationDecision } from '../audit/decision.js';
import { formatMicroTime, isMicroTime } from '../audit/time.js';
import { API_VERSIONS, LEVELS, STAGES, type AuditEvent, type ObjectReference, type ParsedEvent } from '../audit/types.js';

/**
 * The split of one normalized event into the columns of the `events` table, and back.
 * Pure: dimension values are carried as strings here and turned into ids by the writer.
 * Whatever the columns do not hold goes into `residual`, so that recordToEvent(eventToRecord(e))
 * gives back every field of `e` (bodies travel separately, redacted).
 */
export interface EventRecord {
  cluster: string;
  auditID: string;
  stage: number;
  level: number;
  receivedAt: number;
  stageDelay: number;
  verb: string;
  /** UserInfo as JSON, exactly as received; `username` is its username for lookups. */
  user: string;
  username: string;
  impersonatedUser: string | null;
  impersonatedUsername: string | null;
  sourceIPs: string | null;
  userAgent: string | null;
  apiResource: ApiResourceKey | null;
  object: ObjectKey | null;
  resourceVersion: number | null;
  path: string | null;
  query: string | null;
  code: number | null;
  decision: Decision;
  reason: string | null;
  annotations: string | null;
  shape: number;
  residual: string | null;
  sourceVersion: number;
}

export interface ApiResourceKey {
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  /** Bit mask of the objectRef keys that were present (REF_KEYS). */
  present: number;
}

export interface ObjectKey {
  apiGroup: string;
  resource: string;
  namespace: string;
  name: string;
  uid: string;
}

/** An event's user and impersonatedUser as JSON. */
export interface UserJson {
  user: string;
  impersonatedUser: string | null;
}

export const DECISIONS = ['unknown', 'allow', 'forbid'] as const;
export type Decision = 0 | 1 | 2;

const DECISION_KEY = 'authorization.k8s.io/decision';
const REASON_KEY = 'authorization.k8s.io/reason';
const REF_KEYS = ['resource', 'namespace', 'name', 'apiGroup', 'apiVersion', 'subresource', 'uid', 'resourceVersion'] as const;
const REF_BITS = new Map<string, number>(REF_KEYS.map((k, i) => [k, 1 << i]));
const SHAPE_STATUS = 1;
const SHAPE_STATUS_EMPTY_METADATA = 2;
const SHAPE_ANNOTATIONS = 4;
/** The decision column was inferred from the response (audit/decision.ts): the event had no decision annotation. */
const SHAPE_DECISION_INFERRED = 8;
const KNOWN_FIELDS = new Set([
  'kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'sourceIPs',
  'userAgent', 'objectRef', 'responseStatus', 'requestObject', 'responseObject', 'requestReceivedTimestamp',
  'stageTimestamp', 'annotations',
]);
const INTEGER = /^(0|[1-9]\d{0,14})$/;

/**
 * The columns for one parsed event received for `cluster`. `users`: its user and
 * impersonatedUser as JSON, when the caller has them already (a PrincipalCache).
 */
export function eventToRecord(parsed: ParsedEvent, cluster: string, users?: UserJson): EventRecord {
  const e = parsed.event;
  // Most events have nothing beyond the columns: allocate the residual only when they do.
  let residual: Record<string, unknown> | null = null;
  for (const key in e) if (!KNOWN_FIELDS.has(key)) (residual ??= {})[key] = e[key];

  const { receivedAt, stageAt } = parsed;
  if (!isMicroTime(e.requestReceivedTimestamp)) (residual ??= {}).requestReceivedTimestamp = e.requestReceivedTimestamp;
  if (!isMicroTime(e.stageTimestamp)) (residual ??= {}).stageTimestamp = e.stageTimestamp;

  const q = e.requestURI.indexOf('?');
  const path = q < 0 ? e.requestURI : e.requestURI.slice(0, q);
  const query = q < 0 ? null : e.requestURI.slice(q + 1);

  let apiResource: ApiResourceKey | null = null;
  let object: ObjectKey | null = null;
  let resourceVersion: number | null = null;
  const ref = e.objectRef;
  if (ref) {
    let present = 0;
    let extra: Record<string, unknown> | null = null;
    for (const key in ref) {
      const bit = REF_BITS.get(key);
      if (bit !== undefined) present |= bit;
      else (extra ??= {})[key] = ref[key];
    }
    if (ref.resourceVersion !== undefined) {
      if (INTEGER.test(ref.resourceVersion)) resourceVersion = Number(ref.resourceVersion);
      else (extra ??= {}).resourceVersion = ref.resourceVersion;
    }
    if (extra) (residual ??= {}).objectRef = extra;
    apiResource = {
      apiGroup: ref.apiGroup ?? '',
      apiVersion: ref.apiVersion ?? '',
      resource: ref.resource ?? '',
      subresource: ref.subresource ?? '',
      present,
    };
    object = { apiGroup: ref.apiGroup ?? '', resource: ref.resource ?? '', namespace: ref.namespace ?? '', name: ref.name ?? '', uid: ref.uid ?? '' };
  }

  let shape = 0;
  let code: number | null = null;
  const status = e.responseStatus;
  if (status) {
    shape |= SHAPE_STATUS;
    let extra: Record<string, unknown> | null = null;
    for (const key in status) {
      if (key === 'code') code = status.code!;
      else if (key === 'metadata' && isEmptyObject(status.metadata)) shape |= SHAPE_STATUS_EMPTY_METADATA;
      else (extra ??= {})[key] = status[key];
    }
    if (extra) (residual ??= {}).responseStatus = extra;
  }

  const judged = decisionOf(e);
  const decision: Decision = judged.decision === 'allow' ? 1 : judged.decision === 'forbid' ? 2 : 0;
  if (judged.source === 'inferred') shape |= SHAPE_DECISION_INFERRED;
  let reason: string | null = null;
  let annotations: string | null = null;
  if (e.annotations) {
    shape |= SHAPE_ANNOTATIONS;
    const rest: Record<string, string> = {};
    let restCount = 0;
    for (const key in e.annotations) {
      const value = e.annotations[key]!;
      if (key === DECISION_KEY && judged.source === 'annotation') continue;
      else if (key === REASON_KEY) reason = value;
      else {
        rest[key] = value;
        restCount++;
      }
    }
    if (restCount > 0) annotations = JSON.stringify(rest);
  }

  const r = residual ? JSON.stringify(residual) : null;
  return {
    cluster,
    auditID: e.auditID,
    stage: STAGES.indexOf(e.stage),
    level: LEVELS.indexOf(e.level),
    receivedAt,
    stageDelay: stageAt - receivedAt,
    verb: e.verb,
    user: users?.user ?? JSON.stringify(e.user),
    username: e.user.username ?? '',
    impersonatedUser: e.impersonatedUser ? (users?.impersonatedUser ?? JSON.stringify(e.impersonatedUser)) : null,
    impersonatedUsername: e.impersonatedUser ? e.impersonatedUser.username ?? '' : null,
    sourceIPs: e.sourceIPs ? sourceIPsJson(e.sourceIPs) : null,
    userAgent: e.userAgent ?? null,
    apiResource,
    object,
    resourceVersion,
    path: ref && impliedPath(ref) === path ? null : path,
    query,
    code,
    decision,
    reason,
    annotations,
    shape,
    residual: r,
    sourceVersion: API_VERSIONS.indexOf(parsed.sourceVersion) + (parsed.versionInferred ? 4 : 0),
  };
}

/** JSON of one-address sourceIPs, by address (most events have one): the same string each time, which the batch's interning of values then hashes once. */
const oneAddressJson = new Map<string, string>();

function sourceIPsJson(ips: string[]): string {
  if (ips.length !== 1 || typeof ips[0] !== 'string') return JSON.stringify(ips);
  let json = oneAddressJson.get(ips[0]);
  if (json === undefined) {
    if (oneAddressJson.size >= 10_000) oneAddressJson.clear();
    json = JSON.stringify(ips);
    oneAddressJson.set(ips[0], json);
  }
  return json;
}

/** The normalized event (without bodies) that `record` holds. */
export function recordToEvent(r: EventRecord): AuditEvent {
  const residual = r.residual ? (JSON.parse(r.residual) as Record<string, unknown>) : {};
  const { objectRef: refExtra, responseStatus: statusExtra, ...topExtra } = residual;
  const e: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: LEVELS[r.level],
    auditID: r.auditID,
    stage: STAGES[r.stage],
  };
  let ref: ObjectReference | undefined;
  if (r.apiResource && r.object) {
    ref = {};
    const values: Record<(typeof REF_KEYS)[number], string | undefined> = {
      resource: r.apiResource.resource,
      namespace: r.object.namespace,
      name: r.object.name,
      apiGroup: r.apiResource.apiGroup,
      apiVersion: r.apiResource.apiVersion,
      subresource: r.apiResource.subresource,
      uid: r.object.uid,
      resourceVersion: r.resourceVersion === null ? undefined : String(r.resourceVersion),
    };
    REF_KEYS.forEach((key, bit) => {
      if (r.apiResource!.present & (1 << bit) && values[key] !== undefined) ref![key] = values[key];
    });
    Object.assign(ref, refExtra);
  }
  const path = r.path ?? (ref ? impliedPath(ref) : '');
  e.requestURI = r.query === null ? path : `${path}?${r.query}`;
  e.verb = r.verb;
  e.user = JSON.parse(r.user);
  if (r.impersonatedUser !== null) e.impersonatedUser = JSON.parse(r.impersonatedUser);
  if (r.sourceIPs !== null) e.sourceIPs = JSON.parse(r.sourceIPs);
  if (r.userAgent !== null) e.userAgent = r.userAgent;
  if (ref) e.objectRef = ref;
  if (r.shape & SHAPE_STATUS) {
    const status: Record<string, unknown> = {};
    if (r.shape & SHAPE_STATUS_EMPTY_METADATA) status.metadata = {};
    if (r.code !== null) status.code = r.code;
    e.responseStatus = Object.assign(status, statusExtra);
  }
  e.requestReceivedTimestamp = formatMicroTime(r.receivedAt);
  e.stageTimestamp = formatMicroTime(r.receivedAt + r.stageDelay);
  if (r.shape & SHAPE_ANNOTATIONS) {
    const annotations: Record<string, string> = {};
    if (r.decision !== 0 && !(r.shape & SHAPE_DECISION_INFERRED)) annotations[DECISION_KEY] = DECISIONS[r.decision];
    if (r.reason !== null) annotations[REASON_KEY] = r.reason;
    if (r.annotations !== null) Object.assign(annotations, JSON.parse(r.annotations));
    e.annotations = annotations;
  }
  Object.assign(e, topExtra);
  return e as AuditEvent;
}

/** The decision a stored row holds, and where it came from. */
export function storedDecision(decision: Decision, shape: number): AuthorizationDecision {
  if (decision === 0) return { decision: 'unknown', source: null };
  return { decision: DECISIONS[decision], source: shape & SHAPE_DECISION_INFERRED ? 'inferred' : 'annotation' };
}

/**
 * The request path an objectRef implies (spec/k8s-audit.md §6.1), or null when it implies
 * none. Requests whose path is exactly this store no path at all.
 */
export function impliedPath(ref: ObjectReference): string | null {
  if (!ref.apiVersion || !ref.resource) return null;
  let path = ref.apiGroup ? `/apis/${ref.apiGroup}/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  if (ref.namespace && !(ref.resource === 'namespaces' && ref.name === ref.namespace)) path += `/namespaces/${ref.namespace}`;
  path += `/${ref.resource}`;
  if (ref.name) path += `/${ref.name}`;
  if (ref.subresource) path += `/${ref.subresource}`;
  return path;
}

function isEmptyObject(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const _ in v) return false;
  return true;
}
