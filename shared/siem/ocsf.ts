import type { ActionRow } from '../audit/actionRow.js';
import { actionTarget, alertTitle, credentialId, firstValue, httpMethod, requestPath, type AlertLike } from './siemFields.js';

/**
 * Actions and alerts in the Open Cybersecurity Schema Framework (schema.ocsf.io): an action is
 * an API Activity (class 6003), an alert a Detection Finding (2004). Attributes OCSF does not
 * have (the effective user of an impersonation, the decision's source, the attributed person,
 * the PCI DSS requirements of a Detection Finding, which has no `compliance`) go in `unmapped`,
 * as OCSF asks. Pure.
 */
export const OCSF_VERSION = '1.3.0';

const PRODUCT = { name: 'kubetrail', vendor_name: 'kubetrail' };

/** OCSF's activity of a verb: create 1, read 2 (get/list/watch), update 3, delete 4, other 99. */
const ACTIVITY: Record<string, [number, string]> = {
  create: [1, 'Create'],
  get: [2, 'Read'],
  list: [2, 'Read'],
  watch: [2, 'Read'],
  update: [3, 'Update'],
  patch: [3, 'Update'],
  delete: [4, 'Delete'],
  deletecollection: [4, 'Delete'],
};

/** OCSF user type: 1 User, 3 System, 4 Service, 0 Unknown. */
const USER_TYPE: Record<string, [number, string]> = {
  human: [1, 'User'],
  serviceaccount: [4, 'Service'],
  node: [3, 'System'],
  'control-plane': [3, 'System'],
};

const SEVERITY: Record<string, [number, string]> = { low: [2, 'Low'], medium: [3, 'Medium'], high: [4, 'High'], critical: [5, 'Critical'] };

/** The alert's state as the finding's activity and status: new, acknowledged (in progress), resolved. */
const FINDING_STATE: Record<string, { activity: [number, string]; status: [number, string] }> = {
  open: { activity: [1, 'Create'], status: [1, 'New'] },
  acknowledged: { activity: [2, 'Update'], status: [2, 'In Progress'] },
  resolved: { activity: [3, 'Close'], status: [4, 'Resolved'] },
};

const compact = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined && v !== '')) as T;

/** One action as an OCSF API Activity event. */
export function actionToOcsf(r: ActionRow): Record<string, unknown> {
  const [activityId, activityName] = ACTIVITY[r.verb] ?? [99, 'Other'];
  const failed = r.decision === 'forbid' || (r.code !== null && r.code >= 400);
  const [statusId, status] = failed ? [2, 'Failure'] : r.code !== null ? [1, 'Success'] : [0, 'Unknown'];
  const [typeId, type] = USER_TYPE[r.actorKind ?? ''] ?? [0, 'Unknown'];
  const credential = credentialId(r.credential);
  const { path, query } = requestPath(r.requestURI);
  const impersonated = r.impersonatedUser !== null;
  return compact({
    activity_id: activityId,
    activity_name: activityName,
    category_uid: 6,
    category_name: 'Application Activity',
    class_uid: 6003,
    class_name: 'API Activity',
    type_uid: 6003 * 100 + activityId,
    type_name: `API Activity: ${activityName}`,
    severity_id: 1,
    severity: 'Informational',
    time: Math.floor(Date.parse(r.time)),
    status_id: statusId,
    status,
    status_code: r.code === null ? null : String(r.code),
    status_detail: r.reason,
    message: `${r.effectiveUser} ${r.verb} ${actionTarget(r)}${impersonated ? ` (as impersonated by ${r.user})` : ''}`,
    metadata: compact({ version: OCSF_VERSION, product: PRODUCT, uid: `${r.auditID}/${r.stage}`, log_name: 'kube-apiserver audit', original_time: r.time, event_code: r.stage }),
    actor: compact({
      user: compact({ name: r.user, type_id: typeId, type, groups: r.groups.length > 0 ? r.groups.map((name) => ({ name })) : null, credential_uid: credential }),
      session: credential ? { credential_uid: credential } : null,
    }),
    api: compact({ operation: r.verb, request: { uid: r.auditID }, service: { name: 'kube-apiserver' }, group: r.apiGroup ? { name: r.apiGroup } : null }),
    src_endpoint: r.sourceIP ? { ip: r.sourceIP } : { name: 'unknown' },
    dst_endpoint: { name: r.cluster, svc_name: 'kube-apiserver' },
    http_request: compact({ http_method: httpMethod(r.verb), user_agent: r.userAgent, url: compact({ path, query_string: query }) }),
    http_response: r.code === null ? null : { code: r.code },
    resources: r.resource
      ? [compact({ name: r.name || r.resource, type: r.subresource ? `${r.resource}/${r.subresource}` : r.resource, namespace: r.namespace, group: r.apiGroup ? { name: r.apiGroup } : null })]
      : null,
    unmapped: compact({
      cluster: r.cluster,
      stage: r.stage,
      effective_user: r.effectiveUser,
      impersonated_user: r.impersonatedUser,
      decision: r.decision,
      decision_source: r.decisionSource,
      person: r.person,
      checkout: r.checkout,
      actor_kind: r.actorKind,
      credential: r.credential,
      command: r.command,
    }),
  });
}

/** One alert as an OCSF Detection Finding: its state as activity and status, its severity mapped. */
export function alertToOcsf(a: AlertLike): Record<string, unknown> {
  const state = FINDING_STATE[a.status] ?? FINDING_STATE.open!;
  const [severityId, severity] = SEVERITY[a.severity] ?? [0, 'Unknown'];
  const first = Math.floor(Date.parse(a.time));
  const last = Math.floor(Date.parse(a.lastTime));
  const actor = firstValue(a.actor);
  return compact({
    activity_id: state.activity[0],
    activity_name: state.activity[1],
    category_uid: 2,
    category_name: 'Findings',
    class_uid: 2004,
    class_name: 'Detection Finding',
    type_uid: 2004 * 100 + state.activity[0],
    type_name: `Detection Finding: ${state.activity[1]}`,
    severity_id: severityId,
    severity,
    time: first,
    start_time: first,
    end_time: last,
    count: a.count,
    status_id: state.status[0],
    status: state.status[1],
    message: a.message,
    is_alert: true,
    metadata: { version: OCSF_VERSION, product: PRODUCT, uid: `alert-${a.id}`, log_name: 'kubetrail alerts' },
    finding_info: compact({
      uid: `${a.cluster}/${a.id}`,
      title: alertTitle(a),
      desc: a.message,
      analytic: { uid: a.rule, name: a.rule, type_id: 1, type: 'Rule' },
      first_seen_time: first,
      last_seen_time: last,
      related_events: a.auditIDs.length > 0 ? a.auditIDs.slice(0, 100).map((uid) => ({ uid })) : null,
      related_events_count: a.count,
    }),
    actor: actor ? { user: { name: actor } } : null,
    unmapped: compact({
      cluster: a.cluster,
      rule: a.rule,
      alert_id: a.id,
      effective_user: a.effectiveUser,
      person: a.person,
      compliance: { standards: ['PCI DSS v4.0.1'], requirements: a.pci },
      acked_by: a.ackedBy,
      acked_at: a.ackedAt,
      resolved_by: a.resolvedBy,
      resolved_at: a.resolvedAt,
    }),
  });
}
