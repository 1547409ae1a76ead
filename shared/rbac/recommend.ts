import { Authorizer, subjectUsername } from './authorizer.js';
import { ruleAllows } from './ruleAllows.js';
import { requestKey } from './usageAnalysis.js';
import { RBAC_GROUP, type ClusterRole, type ClusterRoleBinding, type PolicyRule, type RbacState, type RequestAttributes, type ResourceAttributes, type Role, type RoleBinding, type Subject } from './types.js';

/**
 * Least-privilege recommendations (kubetrail rbac recommend): the smallest Roles and
 * ClusterRoles, with bindings, that allow every observed allowed request of a subject; and the
 * dry run that replays those requests against the RBAC as it would be. Pure.
 */

/** Who the recommendation is for, as a binding subject. */
export type Target =
  | { kind: 'User'; name: string }
  | { kind: 'ServiceAccount'; namespace: string; name: string }
  | { kind: 'Group'; name: string };

export interface RecommendOptions {
  /** Allow the verbs that usually come together (list → get, watch; update → get, patch …). audit2rbac's default. */
  expandVerbs: boolean;
  /** The same operation in more than one namespace → allowed in every namespace (a ClusterRole). audit2rbac's --expand-multi-namespace. */
  expandMultiNamespace: boolean;
  /** The same operation on more than one name → allowed on any name. audit2rbac's --expand-multi-name. */
  expandMultiName: boolean;
}

export const DEFAULT_RECOMMEND_OPTIONS: RecommendOptions = { expandVerbs: true, expandMultiNamespace: true, expandMultiName: true };

/** The verbs kubectl and controllers use together: one observed, the others allowed with it. */
const VERB_EXPANSIONS: Readonly<Record<string, readonly string[]>> = {
  list: ['get', 'watch'],
  watch: ['get', 'list'],
  update: ['get', 'patch'],
  patch: ['get', 'update'],
};

const VERB_ORDER = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

export interface Proposal {
  clusterRoles: ClusterRole[];
  clusterRoleBindings: ClusterRoleBinding[];
  roles: Role[];
  roleBindings: RoleBinding[];
}

function targetSubject(t: Target): Subject {
  if (t.kind === 'ServiceAccount') return { kind: 'ServiceAccount', name: t.name, namespace: t.namespace, apiGroup: '' };
  return { kind: t.kind, name: t.name, namespace: '', apiGroup: RBAC_GROUP };
}

/** The username a User or ServiceAccount target stands for; null for a group. */
export function targetUsername(t: Target): string | null {
  return t.kind === 'Group' ? null : subjectUsername(targetSubject(t), '');
}

/** Whether a binding subject is the target itself (not a group the target is in). */
function isTarget(s: Subject, bindingNamespace: string, t: Target): boolean {
  if (t.kind === 'Group') return s.kind === 'Group' && s.name === t.name;
  if (s.kind === 'Group') return false;
  return subjectUsername(s, bindingNamespace) === targetUsername(t);
}

/** The name of generated objects: `kubetrail:` and the subject, as Kubernetes names allow. */
function proposalName(t: Target): string {
  const who = t.kind === 'ServiceAccount' ? `${t.namespace}:${t.name}` : t.kind === 'Group' ? `group:${t.name}` : t.name;
  return `kubetrail:${who.toLowerCase().replace(/[^a-z0-9.:-]+/g, '-')}`;
}

/** The RBAC without the target's own bindings: it is removed from shared ones, and bindings left with no subject go. */
export function withoutTarget(state: RbacState, t: Target): { state: RbacState; removed: string[]; edited: string[] } {
  const removed: string[] = [];
  const edited: string[] = [];
  const strip = <B extends { name: string; subjects: Subject[] }>(b: B, ns: string, label: string): B[] => {
    const kept = b.subjects.filter((s) => !isTarget(s, ns, t));
    if (kept.length === b.subjects.length) return [b];
    if (kept.length === 0) {
      removed.push(label);
      return [];
    }
    edited.push(label);
    return [{ ...b, subjects: kept }];
  };
  return {
    state: {
      ...state,
      clusterRoleBindings: state.clusterRoleBindings.flatMap((b) => strip(b, '', `ClusterRoleBinding ${b.name}`)),
      roleBindings: state.roleBindings.flatMap((b) => strip(b, b.namespace, `RoleBinding ${b.namespace}/${b.name}`)),
    },
    removed: removed.sort(),
    edited: edited.sort(),
  };
}

/** The state with a proposal added (objects of the same kind and name are replaced). */
export function withProposal(state: RbacState, p: Proposal): RbacState {
  const replace = <T extends { name: string; namespace?: string }>(list: T[], add: T[]): T[] => {
    const key = (o: T) => `${o.namespace ?? ''}/${o.name}`;
    const names = new Set(add.map(key));
    return [...list.filter((o) => !names.has(key(o))), ...add];
  };
  return {
    ...state,
    clusterRoles: replace(state.clusterRoles, p.clusterRoles),
    clusterRoleBindings: replace(state.clusterRoleBindings, p.clusterRoleBindings),
    roles: replace(state.roles, p.roles),
    roleBindings: replace(state.roleBindings, p.roleBindings),
  };
}

interface Op {
  /** The request it stands for. */
  request: ResourceAttributes;
  verb: string;
  apiGroup: string;
  resource: string;
  namespace: string;
  name: string;
}

function opKey(o: Op, withNamespace: boolean, withName: boolean): string {
  return `${o.verb}\u0000${o.apiGroup}\u0000${o.resource}\u0000${withNamespace ? o.namespace : ''}\u0000${withName ? o.name : ''}`;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const verbOrder = (a: string, b: string) => {
  const i = VERB_ORDER.indexOf(a);
  const j = VERB_ORDER.indexOf(b);
  return (i < 0 ? 99 : i) - (j < 0 ? 99 : j) || byText(a, b);
};

/**
 * The rules that allow these requests: one per operation (verb, group, resource/subresource,
 * names), widened as the options say, then merged — verbs of the same resources and names,
 * then resources of the same verbs and names. Sorted, so the output is the same every time.
 */
function rulesFor(ops: Op[], urls: { verb: string; path: string }[], o: RecommendOptions): PolicyRule[] {
  // resources + names → verbs
  const byTarget = new Map<string, { apiGroup: string; resource: string; names: Set<string> | null; verbs: Set<string> }>();
  const namesOf = new Map<string, Set<string>>();
  for (const op of ops) {
    const k = opKey(op, false, false);
    (namesOf.get(k) ?? namesOf.set(k, new Set()).get(k)!).add(op.name);
  }
  for (const op of ops) {
    const names = namesOf.get(opKey(op, false, false))!;
    // A create of a new object has no name at authorization: never restrict it by name
    // (a rule with resourceNames would never allow it). Neither is there one for deletecollection.
    const unnamed = op.name === '' || names.has('') || (o.expandMultiName && names.size > 1) || (op.verb === 'create' && !op.resource.includes('/')) || op.verb === 'deletecollection';
    const verbs = [op.verb, ...(o.expandVerbs ? (VERB_EXPANSIONS[op.verb] ?? []) : [])];
    const key = `${op.apiGroup}\u0000${op.resource}\u0000${unnamed ? '' : 'named'}`;
    let t = byTarget.get(key);
    if (!t) byTarget.set(key, (t = { apiGroup: op.apiGroup, resource: op.resource, names: unnamed ? null : new Set(), verbs: new Set() }));
    for (const v of verbs) t.verbs.add(v);
    if (!unnamed) t.names!.add(op.name);
  }
  // Named and unnamed entries of one resource: the unnamed verbs need not be repeated by name.
  for (const t of byTarget.values()) {
    if (!t.names) continue;
    const open = byTarget.get(`${t.apiGroup}\u0000${t.resource}\u0000`);
    if (open) for (const v of open.verbs) t.verbs.delete(v);
  }
  // Merge resources of one group with the same verbs and names.
  const merged = new Map<string, PolicyRule>();
  for (const t of byTarget.values()) {
    if (t.verbs.size === 0) continue;
    const verbs = [...t.verbs].sort(verbOrder);
    const names = t.names ? [...t.names].sort(byText) : [];
    const key = `${t.apiGroup}\u0000${verbs.join(',')}\u0000${names.join(',')}`;
    const r = merged.get(key);
    if (r) r.resources.push(t.resource);
    else merged.set(key, { verbs, apiGroups: [t.apiGroup], resources: [t.resource], resourceNames: names, nonResourceURLs: [] });
  }
  const rules = [...merged.values()];
  for (const r of rules) r.resources.sort(byText);
  rules.sort((a, b) => byText(a.apiGroups[0]!, b.apiGroups[0]!) || byText(a.resources[0]!, b.resources[0]!) || byText(a.verbs.join(), b.verbs.join()) || byText(a.resourceNames.join(), b.resourceNames.join()));
  // Non-resource URLs exactly as requested (paths carry no query), by verb.
  const byPath = new Map<string, Set<string>>();
  for (const u of urls) (byPath.get(u.path) ?? byPath.set(u.path, new Set()).get(u.path)!).add(u.verb);
  const urlRules = new Map<string, PolicyRule>();
  for (const [path, verbs] of [...byPath].sort((a, b) => byText(a[0], b[0]))) {
    const v = [...verbs].sort(verbOrder);
    const r = urlRules.get(v.join());
    if (r) r.nonResourceURLs.push(path);
    else urlRules.set(v.join(), { verbs: v, apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [path] });
  }
  return [...rules, ...urlRules.values()];
}

/**
 * The proposal for a target: the smallest Roles (per namespace) and ClusterRole that allow
 * every request given. `requests` are what it must allow: the caller leaves out those the
 * bindings that stay already allow.
 */
export function recommend(t: Target, requests: readonly RequestAttributes[], o: RecommendOptions = DEFAULT_RECOMMEND_OPTIONS): Proposal {
  const ops: Op[] = [];
  const urls: { verb: string; path: string }[] = [];
  for (const a of requests) {
    if (!a.resourceRequest) urls.push({ verb: a.verb, path: a.path });
    else ops.push({ request: a, verb: a.verb, apiGroup: a.apiGroup, resource: a.subresource ? `${a.resource}/${a.subresource}` : a.resource, namespace: a.namespace, name: a.name });
  }
  // Namespace widening: an operation seen in more than one namespace goes cluster-wide.
  const namespaces = new Map<string, Set<string>>();
  for (const op of ops) {
    const k = opKey(op, false, !o.expandMultiName);
    (namespaces.get(k) ?? namespaces.set(k, new Set()).get(k)!).add(op.namespace);
  }
  const cluster: Op[] = [];
  const byNamespace = new Map<string, Op[]>();
  for (const op of ops) {
    const spread = namespaces.get(opKey(op, false, !o.expandMultiName))!;
    if (op.namespace === '' || (o.expandMultiNamespace && spread.size > 1)) cluster.push({ ...op, namespace: '' });
    else (byNamespace.get(op.namespace) ?? byNamespace.set(op.namespace, []).get(op.namespace)!).push(op);
  }
  const name = proposalName(t);
  const labels = { 'app.kubernetes.io/managed-by': 'kubetrail', 'kubetrail.io/recommended-for': name.slice('kubetrail:'.length).replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 63) };
  const subject = targetSubject(t);
  const p: Proposal = { clusterRoles: [], clusterRoleBindings: [], roles: [], roleBindings: [] };
  const clusterRules = rulesFor(cluster, urls, o);
  if (clusterRules.length > 0) {
    p.clusterRoles.push({ name, labels, rules: clusterRules });
    p.clusterRoleBindings.push({ name, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name }, subjects: [subject] });
  }
  // Minimal: a namespace's Role holds only what the ClusterRole (bound cluster-wide) does not allow already.
  for (const ns of [...byNamespace.keys()].sort(byText)) {
    const own = byNamespace.get(ns)!.filter((op) => !clusterRules.some((rule) => ruleAllows(op.request, rule)));
    if (own.length === 0) continue;
    p.roles.push({ name, namespace: ns, labels, rules: rulesFor(own, [], o) });
    p.roleBindings.push({ name, namespace: ns, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name }, subjects: [subject] });
  }
  return p;
}

/** A request replayed in the dry run: who, what, how often it was seen. */
export interface Replayed {
  attrs: RequestAttributes;
  count: number;
}

export interface DryRun {
  requests: number;
  distinct: number;
  /** Requests allowed when observed that the new RBAC would deny: must be none. */
  regressions: Replayed[];
  regressionCount: number;
}

/** Replays requests against an RBAC state with the exact evaluator. */
export function dryRun(state: RbacState, requests: readonly Replayed[]): DryRun {
  const authz = new Authorizer(state);
  const regressions = requests.filter((r) => !authz.authorize(r.attrs).allowed);
  return {
    requests: requests.reduce((n, r) => n + r.count, 0),
    distinct: requests.length,
    regressions: regressions.sort((a, b) => byText(requestKey(a.attrs), requestKey(b.attrs))),
    regressionCount: regressions.reduce((n, r) => n + r.count, 0),
  };
}

/** Proposal objects as Kubernetes manifests, in apply order: roles before their bindings. */
export function proposalManifests(p: Proposal): object[] {
  const meta = (name: string, namespace: string | undefined, labels: Record<string, string> | undefined) => ({
    name,
    ...(namespace ? { namespace } : {}),
    ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
  });
  const rule = (r: PolicyRule) =>
    r.nonResourceURLs.length > 0
      ? { nonResourceURLs: r.nonResourceURLs, verbs: r.verbs }
      : { apiGroups: r.apiGroups, resources: r.resources, ...(r.resourceNames.length > 0 ? { resourceNames: r.resourceNames } : {}), verbs: r.verbs };
  const subject = (s: Subject) => (s.kind === 'ServiceAccount' ? { kind: s.kind, name: s.name, namespace: s.namespace } : { apiGroup: RBAC_GROUP, kind: s.kind, name: s.name });
  const labelsOf = (name: string) => p.clusterRoles.find((r) => r.name === name)?.labels ?? p.roles.find((r) => r.name === name)?.labels;
  return [
    ...p.clusterRoles.map((r) => ({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: meta(r.name, undefined, r.labels), rules: r.rules.map(rule) })),
    ...p.clusterRoleBindings.map((b) => ({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRoleBinding', metadata: meta(b.name, undefined, labelsOf(b.roleRef.name)), roleRef: b.roleRef, subjects: b.subjects.map(subject) })),
    ...p.roles.map((r) => ({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'Role', metadata: meta(r.name, r.namespace, r.labels), rules: r.rules.map(rule) })),
    ...p.roleBindings.map((b) => ({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'RoleBinding', metadata: meta(b.name, b.namespace, labelsOf(b.roleRef.name)), roleRef: b.roleRef, subjects: b.subjects.map(subject) })),
  ];
}
