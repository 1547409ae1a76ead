import type { ActionRow } from '../audit/actionRow.js';
import { actionTarget, alertTitle, firstValue, httpMethod, requestPath, type AlertLike } from './siemFields.js';

/**
 * Actions and alerts in the Elastic Common Schema, shaped as Elastic's Kubernetes integration
 * writes audit logs (data stream `kubernetes.audit_logs`): the Event under `kubernetes.audit.*`
 * with dots in annotation names turned into underscores (`authorization_k8s_io/decision`), and
 * the ECS fields its prebuilt rules read (`user.name`, `event.action`, `event.outcome`,
 * `source.ip`, `user_agent.original`, `orchestrator.*`). What ECS has no field for goes under
 * `kubetrail.*`. Request and response bodies are not exported. Pure.
 */
export const ECS_VERSION = '8.17.0';

/** ECS event.type of a verb, with `allowed`/`denied` from the decision. */
const TYPE: Record<string, string> = {
  create: 'creation', get: 'access', list: 'access', watch: 'access', update: 'change', patch: 'change', delete: 'deletion', deletecollection: 'deletion',
};

/** Elastic's severity numbers (low 21, medium 47, high 73, critical 99). */
const SEVERITY: Record<string, number> = { low: 21, medium: 47, high: 73, critical: 99 };

type Doc = Record<string, unknown>;

/** Drops null, undefined, empty strings and empty objects, at every depth. */
function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? undefined : v;
  if (v === null || typeof v !== 'object') return v === '' || v === null ? undefined : v;
  const out: Doc = {};
  for (const [k, x] of Object.entries(v)) {
    const p = prune(x);
    if (p !== undefined) out[k] = p;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** One action as an ECS document. */
export function actionToEcs(r: ActionRow): Doc {
  const failed = r.decision === 'forbid' || (r.code !== null && r.code >= 400);
  const outcome = failed ? 'failure' : r.code !== null ? 'success' : 'unknown';
  const types = [TYPE[r.verb] ?? 'info', ...(r.decision === 'allow' ? ['allowed'] : r.decision === 'forbid' ? ['denied'] : [])];
  const { path } = requestPath(r.requestURI);
  const users = [...new Set([r.user, r.effectiveUser].filter(Boolean))];
  return prune({
    '@timestamp': r.time,
    ecs: { version: ECS_VERSION },
    message: `${r.effectiveUser} ${r.verb} ${actionTarget(r)}`,
    event: {
      kind: 'event',
      category: ['api'],
      type: types,
      action: r.verb,
      outcome,
      id: r.auditID,
      dataset: 'kubernetes.audit_logs',
      module: 'kubernetes',
      provider: 'kube-apiserver',
      reason: r.reason,
    },
    user: { name: r.user, group: r.groups.length > 0 ? { name: r.groups } : null, effective: r.impersonatedUser ? { name: r.impersonatedUser } : null },
    source: { ip: r.sourceIP },
    user_agent: { original: r.userAgent },
    url: { original: r.requestURI, path },
    http: { request: { method: httpMethod(r.verb) }, response: { status_code: r.code } },
    orchestrator: {
      type: 'kubernetes',
      cluster: { name: r.cluster },
      namespace: r.namespace,
      resource: { type: r.resource, name: r.name },
    },
    related: { user: users, ip: r.sourceIP ? [r.sourceIP] : null },
    kubernetes: {
      audit: {
        auditID: r.auditID,
        stage: r.stage,
        verb: r.verb,
        requestURI: r.requestURI,
        user: { username: r.user, groups: r.groups },
        impersonatedUser: r.impersonatedUser ? { username: r.impersonatedUser } : null,
        sourceIPs: r.sourceIP ? [r.sourceIP] : null,
        userAgent: r.userAgent,
        objectRef: { resource: r.resource, subresource: r.subresource, namespace: r.namespace, name: r.name, apiGroup: r.apiGroup },
        responseStatus: { code: r.code },
        annotations: { 'authorization_k8s_io/decision': r.decisionSource === 'annotation' ? r.decision : null, 'authorization_k8s_io/reason': r.reason },
        requestReceivedTimestamp: r.time,
      },
    },
    kubetrail: {
      person: r.person,
      checkout: r.checkout,
      credential: r.credential,
      actor_kind: r.actorKind,
      decision: r.decision,
      decision_source: r.decisionSource,
      command: r.command,
    },
  }) as Doc;
}

/** One alert as an ECS alert document. */
export function alertToEcs(a: AlertLike): Doc {
  const actor = firstValue(a.actor);
  const effective = firstValue(a.effectiveUser);
  return prune({
    '@timestamp': a.time,
    ecs: { version: ECS_VERSION },
    message: a.message,
    event: {
      kind: 'alert',
      category: ['intrusion_detection'],
      type: ['info'],
      severity: SEVERITY[a.severity] ?? 0,
      start: a.time,
      end: a.lastTime,
      id: `${a.cluster}/${a.id}`,
      dataset: 'kubetrail.alerts',
      module: 'kubetrail',
      provider: 'kubetrail',
    },
    rule: { id: a.rule, name: alertTitle(a), ruleset: a.rule.startsWith('sigma:') ? 'sigma' : 'kubetrail' },
    user: { name: actor, effective: effective && effective !== actor ? { name: effective } : null },
    orchestrator: { type: 'kubernetes', cluster: { name: a.cluster } },
    related: { user: [...new Set([actor, effective].filter((x): x is string => Boolean(x)))] },
    tags: a.pci.map((r) => `PCI DSS ${r}`),
    kubetrail: {
      alert: {
        id: a.id,
        severity: a.severity,
        status: a.status,
        count: a.count,
        person: a.person,
        audit_ids: a.auditIDs,
        pci: a.pci,
        acked_by: a.ackedBy,
        acked_at: a.ackedAt,
        resolved_by: a.resolvedBy,
        resolved_at: a.resolvedAt,
      },
    },
  }) as Doc;
}
