import { levelOf, type AuditPolicy, type PolicyRequest } from '../audit/policy.js';
import { LEVELS, type Level } from '../audit/types.js';

/**
 * What kubetrail would be blind to under an audit Policy (`kubetrail policy check FILE`): each
 * need of a detection or report, probed with the requests it reads, judged by the level the
 * policy gives them, with the rule that decided and the rule to add.
 */

export interface PolicyNeed {
  /** The detections and reports that need it. */
  serves: string;
  /** What must be recorded. */
  what: string;
  /** The least level. */
  level: Level;
  probes: PolicyRequest[];
  /** The rule to add before the one that hides it. */
  fix: string;
}

const human = { user: 'alice@example.com', groups: ['dev', 'system:authenticated'] };
const sa = { user: 'system:serviceaccount:shop:checkout', groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'] };
const controller = { user: 'system:serviceaccount:kube-system:deployment-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] };
const core = (resource: string, subresource?: string) => ({ group: '', resource, ...(subresource ? { subresource } : {}), namespace: 'shop' });

export const POLICY_NEEDS: PolicyNeed[] = [
  {
    serves: 'secret-read; rbac report, recommend and stale (reads)',
    what: 'get, list and watch, by people, service accounts and controllers',
    level: 'Metadata',
    probes: [
      { ...human, verb: 'get', resource: core('secrets') }, { ...human, verb: 'list', resource: core('secrets') }, { ...sa, verb: 'get', resource: core('configmaps') },
      { ...controller, verb: 'watch', resource: { group: 'apps', resource: 'replicasets', namespace: 'shop' } },
    ],
    fix: '- level: Metadata\n  verbs: ["get", "list", "watch"]',
  },
  {
    serves: 'rbac report and recommend (writes); system-masters-use; break-glass-use; default-serviceaccount-use',
    what: 'writes by people, service accounts and system:masters',
    level: 'Metadata',
    probes: [
      { ...human, verb: 'delete', resource: core('pods') }, { ...sa, verb: 'create', resource: core('events') },
      { user: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'], verb: 'create', resource: core('namespaces') },
      { user: 'system:serviceaccount:shop:default', groups: ['system:serviceaccounts', 'system:authenticated'], verb: 'list', resource: core('pods') },
    ],
    fix: '- level: Metadata',
  },
  {
    serves: 'rbac-escalation',
    what: 'bodies of RBAC writes (roleRef, subjects, rules)',
    level: 'Request',
    probes: ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'].flatMap((resource) =>
      ['create', 'update', 'patch'].map((verb) => ({ ...human, verb, resource: { group: 'rbac.authorization.k8s.io', resource, namespace: resource.startsWith('cluster') ? '' : 'shop' } })),
    ),
    fix: '- level: RequestResponse\n  verbs: ["create", "update", "patch", "delete", "deletecollection"]\n  resources:\n    - group: "rbac.authorization.k8s.io"',
  },
  {
    serves: 'privileged-workload',
    what: 'bodies of pod and workload writes (their specs)',
    level: 'Request',
    probes: [
      { ...human, verb: 'create', resource: core('pods') }, { ...human, verb: 'patch', resource: { group: 'apps', resource: 'deployments', namespace: 'shop' } },
      { ...human, verb: 'create', resource: { group: 'apps', resource: 'daemonsets', namespace: 'shop' } }, { ...human, verb: 'create', resource: { group: 'batch', resource: 'cronjobs', namespace: 'shop' } },
    ],
    fix: '- level: Request\n  verbs: ["create", "update", "patch"]\n  resources:\n    - group: ""\n      resources: ["pods", "replicationcontrollers"]\n    - group: "apps"\n    - group: "batch"',
  },
  {
    serves: 'pod-exec-attach-portforward',
    what: 'exec, attach and port-forward into pods',
    level: 'Metadata',
    probes: ['exec', 'attach', 'portforward'].flatMap((sub) => ['create', 'get'].map((verb) => ({ ...human, verb, resource: core('pods', sub) }))),
    fix: '- level: Metadata\n  resources:\n    - group: ""\n      resources: ["pods/exec", "pods/attach", "pods/portforward"]',
  },
  {
    serves: 'token-request; csr-approval; admission-webhook-change; impersonation',
    what: 'token requests, CSR approvals, webhook configuration changes and impersonation',
    level: 'Metadata',
    probes: [
      { ...sa, verb: 'create', resource: core('serviceaccounts', 'token') },
      { ...human, verb: 'update', resource: { group: 'certificates.k8s.io', resource: 'certificatesigningrequests', subresource: 'approval', namespace: '' } },
      { ...human, verb: 'create', resource: { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', namespace: '' } },
      { ...human, verb: 'impersonate', resource: { group: '', resource: 'users', namespace: '' } },
    ],
    fix: '- level: Metadata\n  resources:\n    - group: ""\n      resources: ["serviceaccounts/token"]\n    - group: "certificates.k8s.io"\n    - group: "admissionregistration.k8s.io"',
  },
  {
    serves: 'anonymous-allowed; anonymous-scanning',
    what: 'requests of unauthenticated callers (system:anonymous)',
    level: 'Metadata',
    probes: [
      { user: 'system:anonymous', groups: ['system:unauthenticated'], verb: 'get', path: '/api' },
      { user: 'system:anonymous', groups: ['system:unauthenticated'], verb: 'list', resource: core('secrets') },
    ],
    fix: '- level: Metadata\n  userGroups: ["system:unauthenticated"]',
  },
];

export interface NeedCheck {
  serves: string;
  what: string;
  state: 'recorded' | 'blind' | 'degraded';
  /** The probes below the level needed, each with the level it gets and the rule that decided. */
  missed: string[];
  fix: string | null;
}

const describe = (q: PolicyRequest) =>
  `${q.user} ${q.verb} ${q.resource ? `${q.resource.group ? `${q.resource.group}/` : ''}${q.resource.resource}${q.resource.subresource ? `/${q.resource.subresource}` : ''}` : q.path}`;

/** Each need, recorded or not under the policy; and what the stages left out cost. */
export function checkPolicy(policy: AuditPolicy): { needs: NeedCheck[]; stages: string[] } {
  const needs = POLICY_NEEDS.map((n): NeedCheck => {
    const missed = n.probes.flatMap((q) => {
      const got = levelOf(policy, q);
      if (LEVELS.indexOf(got.level) >= LEVELS.indexOf(n.level)) return [];
      return [`${describe(q)}: ${got.level}, ${got.rule < 0 ? 'no rule matches' : `rules[${got.rule}]`}`];
    });
    const state = missed.length === 0 ? 'recorded' : missed.length === n.probes.length ? 'blind' : 'degraded';
    return { serves: n.serves, what: n.what, state, missed, fix: missed.length === 0 ? null : `add before the rule that hides it:\n${n.fix}` };
  });
  // The decision and the status are in ResponseComplete (and ResponseStarted for long-running requests).
  const omitted = new Set(policy.omitStages);
  const stages: string[] = [];
  if (omitted.has('ResponseComplete')) stages.push('omitStages drops ResponseComplete: requests other than watch and exec leave only RequestReceived, which has no status and no decision');
  if (omitted.has('ResponseStarted') && omitted.has('ResponseComplete')) stages.push('omitStages drops both response stages: no decision is recorded');
  return { needs, stages };
}
