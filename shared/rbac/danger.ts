import type { PolicyRule } from './types.js';

/** Why a rule is dangerous to hold (spec/rbac.md §6), with a weight for ranking: higher is worse. */
export interface Danger {
  weight: number;
  why: string;
}

interface Pattern {
  weight: number;
  why: string;
  verbs: readonly string[];
  apiGroup: string;
  /** `pods/exec` or `pods`; a rule's wildcards (all, any resource's subresource, any subresource) cover it too. */
  resources: readonly string[];
}

const PATTERNS: readonly Pattern[] = [
  { weight: 100, why: 'impersonate: act as any user, group or service account (system:masters too)', verbs: ['impersonate'], apiGroup: '', resources: ['users', 'groups', 'serviceaccounts'] },
  { weight: 95, why: 'escalate/bind: write or bind any permission, e.g. cluster-admin', verbs: ['escalate', 'bind'], apiGroup: 'rbac.authorization.k8s.io', resources: ['roles', 'clusterroles'] },
  { weight: 90, why: 'approve certificate requests: mint client certificates for any identity', verbs: ['approve', 'sign'], apiGroup: 'certificates.k8s.io', resources: ['signers'] },
  { weight: 85, why: 'nodes/proxy: the kubelet API of every node, exec into any pod without pod-level audit detail', verbs: ['get', 'create'], apiGroup: '', resources: ['nodes/proxy'] },
  { weight: 85, why: 'code execution in containers (exec, attach, port-forward)', verbs: ['get', 'create'], apiGroup: '', resources: ['pods/exec', 'pods/attach', 'pods/portforward'] },
  { weight: 80, why: 'serviceaccounts/token: mint tokens for service accounts, and so use their permissions', verbs: ['create'], apiGroup: '', resources: ['serviceaccounts/token'] },
  { weight: 80, why: 'admission webhooks: intercept or modify every object', verbs: ['create', 'update', 'patch'], apiGroup: 'admissionregistration.k8s.io', resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'] },
  { weight: 75, why: 'read secrets: tokens and credentials (list returns their contents)', verbs: ['get', 'list', 'watch'], apiGroup: '', resources: ['secrets'] },
  { weight: 70, why: 'write RBAC bindings', verbs: ['create', 'update', 'patch'], apiGroup: 'rbac.authorization.k8s.io', resources: ['rolebindings', 'clusterrolebindings'] },
  { weight: 60, why: 'inject containers or tamper with node status', verbs: ['update', 'patch'], apiGroup: '', resources: ['pods/ephemeralcontainers', 'nodes/status'] },
  { weight: 50, why: 'create pods: run as any service account of the namespace and mount its secrets', verbs: ['create'], apiGroup: '', resources: ['pods'] },
];

function covers(list: readonly string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

function coversResource(ruleResources: readonly string[], resource: string): boolean {
  const [res, sub] = resource.split('/');
  for (const r of ruleResources) {
    if (r === '*' || r === resource) return true;
    if (sub !== undefined && (r === `*/${sub}` || r === `${res}/*`)) return true;
  }
  return false;
}

/** The dangers a rule holds, worst first; empty for a harmless rule. Pure. */
export function ruleDangers(rule: PolicyRule): Danger[] {
  const out: Danger[] = [];
  if (rule.nonResourceURLs.length > 0) {
    if (rule.nonResourceURLs.includes('*') && rule.verbs.includes('*')) out.push({ weight: 65, why: 'every verb on every non-resource URL' });
    return out;
  }
  if (rule.verbs.includes('*') || rule.resources.includes('*')) {
    out.push({ weight: 98, why: `wildcard ${rule.verbs.includes('*') ? 'verbs' : 'resources'}: every future resource and special verb too` });
  }
  for (const p of PATTERNS) {
    if (!covers(rule.apiGroups, p.apiGroup)) continue;
    if (!p.verbs.some((v) => covers(rule.verbs, v))) continue;
    if (!p.resources.some((r) => coversResource(rule.resources, r))) continue;
    out.push({ weight: p.weight, why: p.why });
  }
  return out.sort((a, b) => b.weight - a.weight);
}
