import { emptyUnwrapped, isRecord, type Unwrapped } from './unwrapped.js';

/**
 * Google GKE: Cloud Audit Logs entries (spec/k8s-audit.md §9.2) with `protoPayload.serviceName`
 * `k8s.io`, as `gcloud logging read --format=json`, a log sink's Pub/Sub messages or JSON lines
 * give them, rebuilt as the audit Event the apiserver would have written:
 *
 * - verb: the last segment of `methodName` (`io.k8s.core.v1.pods.exec.create` → create);
 * - objectRef from `resourceName` (`core/v1/namespaces/NS/pods/NAME[/SUB]`, `core` → ""), a
 *   non-resource request's path from a resourceName that is not one (`readyz`);
 * - user from `authenticationInfo.principalEmail`, with no groups: GKE records none;
 * - source IP and user agent from `requestMetadata`, annotations from `labels`, the decision
 *   from `authorizationInfo` when no label gives it;
 * - the status from `status.code`, a gRPC code, as the HTTP code it stands for;
 * - the auditID from `operation.id`, else `insertId`: entries that share an operation id are one
 *   request (stored once), entries without one are deduplicated by insertId alone;
 * - the time from `timestamp`; the cluster from `resource.labels.cluster_name`, the project
 *   from `resource.labels.project_id` (kept as the annotation `gke.kubetrail.io/project`).
 *
 * Entries of other services (`container.googleapis.com`: the cluster's own management) are not
 * audit input of the cluster: skipped and counted.
 */

/** google.rpc.Code → the HTTP status it stands for (google.rpc's own mapping). */
const GRPC_TO_HTTP: Record<number, number> = {
  0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};

export const PROJECT_ANNOTATION = 'gke.kubetrail.io/project';

export function isGkeEntry(v: Record<string, unknown>): boolean {
  return isRecord(v.protoPayload);
}

interface Target {
  objectRef?: Record<string, string>;
  requestURI: string;
}

/** The objectRef and request path a resourceName stands for. */
function targetOf(resourceName: string, methodSegments: string[]): Target {
  const parts = resourceName.split('/');
  if (parts.length >= 3 && /^v\d/.test(parts[1]!)) {
    const [group, version, ...rest] = parts as [string, string, ...string[]];
    const apiGroup = group === 'core' ? '' : group;
    let namespace = '';
    let tail = rest;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1]!;
      tail = rest.slice(2);
    }
    const [resource = '', name = '', ...sub] = tail;
    // A subresource the methodName names when the resourceName stops at the object.
    const subresource = sub.join('/') || (methodSegments.length >= 4 && methodSegments.at(-3) === resource ? methodSegments.at(-2)! : '');
    const objectRef: Record<string, string> = { resource, apiVersion: version };
    if (apiGroup) objectRef.apiGroup = apiGroup;
    if (namespace) objectRef.namespace = namespace;
    if (name) objectRef.name = name;
    if (subresource) objectRef.subresource = subresource;
    const base = apiGroup ? `/apis/${apiGroup}/${version}` : `/api/${version}`;
    const path = [base, namespace ? `namespaces/${namespace}` : '', resource, name, subresource].filter(Boolean).join('/');
    return { objectRef, requestURI: path };
  }
  return { requestURI: `/${resourceName.replace(/^\/+/, '')}` };
}

function decisionOf(p: Record<string, unknown>): string | undefined {
  const info = Array.isArray(p.authorizationInfo) ? p.authorizationInfo.filter(isRecord) : [];
  if (info.length === 0) return undefined;
  return info.every((i) => i.granted === true) ? 'allow' : 'forbid';
}

/** The audit Event a GKE entry stands for, or the reason it cannot be rebuilt. */
export function gkeEvent(entry: Record<string, unknown>): { event: Record<string, unknown>; cluster?: string } | { reason: string } {
  const p = entry.protoPayload as Record<string, unknown>;
  const method = p.methodName;
  if (typeof method !== 'string' || !method.startsWith('io.k8s.')) return { reason: `GKE entry: protoPayload.methodName: expected io.k8s.…, got ${JSON.stringify(method)}` };
  const segments = method.slice('io.k8s.'.length).split('.');
  const verb = segments.at(-1)!;
  const time = entry.timestamp;
  if (typeof time !== 'string') return { reason: 'GKE entry: timestamp: expected an RFC 3339 time' };
  const auditID = (isRecord(entry.operation) && typeof entry.operation.id === 'string' && entry.operation.id) || entry.insertId;
  if (typeof auditID !== 'string' || auditID === '') return { reason: 'GKE entry: neither operation.id nor insertId: nothing identifies the request' };
  const auth = isRecord(p.authenticationInfo) ? p.authenticationInfo : {};
  const meta = isRecord(p.requestMetadata) ? p.requestMetadata : {};
  const labels = isRecord(entry.labels) ? entry.labels : {};
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') annotations[k] = v;
  const decision = decisionOf(p);
  if (annotations['authorization.k8s.io/decision'] === undefined && decision) annotations['authorization.k8s.io/decision'] = decision;
  const resource = isRecord(entry.resource) && isRecord(entry.resource.labels) ? entry.resource.labels : {};
  if (typeof resource.project_id === 'string') annotations[PROJECT_ANNOTATION] = resource.project_id;
  const target = targetOf(typeof p.resourceName === 'string' ? p.resourceName : '', segments);
  const code = isRecord(p.status) && typeof p.status.code === 'number' ? p.status.code : 0;
  const user: Record<string, unknown> = {};
  if (typeof auth.principalEmail === 'string') user.username = auth.principalEmail;
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: p.response !== undefined ? 'RequestResponse' : p.request !== undefined ? 'Request' : 'Metadata',
    auditID,
    stage: 'ResponseComplete',
    requestURI: target.requestURI,
    verb,
    user,
    sourceIPs: typeof meta.callerIp === 'string' ? [meta.callerIp] : [],
    ...(typeof meta.callerSuppliedUserAgent === 'string' ? { userAgent: meta.callerSuppliedUserAgent } : {}),
    ...(target.objectRef ? { objectRef: target.objectRef } : {}),
    responseStatus: { metadata: {}, code: GRPC_TO_HTTP[code] ?? 500, ...(isRecord(p.status) && typeof p.status.message === 'string' ? { message: p.status.message } : {}) },
    ...(p.request !== undefined ? { requestObject: p.request } : {}),
    ...(p.response !== undefined ? { responseObject: p.response } : {}),
    requestReceivedTimestamp: time,
    stageTimestamp: time,
    annotations,
  };
  return { event, ...(typeof resource.cluster_name === 'string' ? { cluster: resource.cluster_name } : {}) };
}

export function unwrapGkeEntry(entry: Record<string, unknown>, position: string): Unwrapped {
  const out = emptyUnwrapped('GKE Cloud Audit Log entry');
  if ((entry.protoPayload as Record<string, unknown>).serviceName !== 'k8s.io') {
    out.skipped++;
    return out;
  }
  const r = gkeEvent(entry);
  if ('reason' in r) out.rejected.push({ position, reason: r.reason, raw: JSON.stringify(entry) });
  else out.carried.push({ value: r.event, position, ...(r.cluster ? { cluster: r.cluster } : {}) });
  return out;
}

/** A Pub/Sub push delivery of a log sink: `{message: {data: base64 of the entry's JSON}, subscription}`. */
export function isPubSubPush(v: Record<string, unknown>): boolean {
  return isRecord(v.message) && typeof v.message.data === 'string' && typeof v.subscription === 'string';
}

export function pubSubData(v: Record<string, unknown>): string {
  return Buffer.from((v.message as Record<string, unknown>).data as string, 'base64').toString('utf8');
}
