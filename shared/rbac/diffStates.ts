import type { ClusterRole, ClusterRoleBinding, PolicyRule, RbacState, Role, RoleBinding, Subject } from './types.js';

/** One object added, removed or changed between two states, with what changed. */
export interface ObjectChange {
  change: 'added' | 'removed' | 'changed';
  kind: 'ClusterRole' | 'Role' | 'ClusterRoleBinding' | 'RoleBinding' | 'ServiceAccount';
  namespace: string;
  name: string;
  /** For `changed`: each difference in words, e.g. `+ rule get,list pods`. */
  details: string[];
}

type Keyed<T> = Map<string, T>;

/** What changed from state `a` to state `b`, object by object, in kind, namespace and name order. */
export function diffStates(a: RbacState, b: RbacState): ObjectChange[] {
  const out: ObjectChange[] = [];
  diffKind(out, 'ClusterRole', byKey(a.clusterRoles), byKey(b.clusterRoles), roleDetails);
  diffKind(out, 'Role', byKey(a.roles), byKey(b.roles), roleDetails);
  diffKind(out, 'ClusterRoleBinding', byKey(a.clusterRoleBindings), byKey(b.clusterRoleBindings), bindingDetails);
  diffKind(out, 'RoleBinding', byKey(a.roleBindings), byKey(b.roleBindings), bindingDetails);
  diffKind(out, 'ServiceAccount', byKey(a.serviceAccounts), byKey(b.serviceAccounts), () => []);
  return out;
}

function byKey<T extends { name: string; namespace?: string }>(objects: readonly T[]): Keyed<T> {
  return new Map(objects.map((o) => [`${o.namespace ?? ''}/${o.name}`, o]));
}

function diffKind<T extends { name: string; namespace?: string }>(
  out: ObjectChange[],
  kind: ObjectChange['kind'],
  a: Keyed<T>,
  b: Keyed<T>,
  details: (x: T, y: T) => string[],
): void {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const k of keys) {
    const x = a.get(k);
    const y = b.get(k);
    const o = (y ?? x)!;
    const base = { kind, namespace: o.namespace ?? '', name: o.name };
    if (!x) out.push({ change: 'added', ...base, details: [] });
    else if (!y) out.push({ change: 'removed', ...base, details: [] });
    else {
      const d = details(x, y);
      if (d.length > 0) out.push({ change: 'changed', ...base, details: d });
    }
  }
}

function roleDetails(x: ClusterRole | Role, y: ClusterRole | Role): string[] {
  const d = setDiff(x.rules.map(describeRule), y.rules.map(describeRule), 'rule');
  const ax = 'aggregationRule' in x ? JSON.stringify(x.aggregationRule ?? null) : 'null';
  const ay = 'aggregationRule' in y ? JSON.stringify(y.aggregationRule ?? null) : 'null';
  if (ax !== ay) d.push(`aggregationRule ${ax} → ${ay}`);
  d.push(...setDiff(labels(x.labels), labels(y.labels), 'label'));
  return d;
}

function bindingDetails(x: ClusterRoleBinding | RoleBinding, y: ClusterRoleBinding | RoleBinding): string[] {
  const d: string[] = [];
  const rx = `${x.roleRef.kind} ${x.roleRef.name}`;
  const ry = `${y.roleRef.kind} ${y.roleRef.name}`;
  if (rx !== ry) d.push(`roleRef ${rx} → ${ry} (recreated: a roleRef cannot change)`);
  d.push(...setDiff(x.subjects.map(describeSubjectShort), y.subjects.map(describeSubjectShort), 'subject'));
  return d;
}

/** `verbs resources[.groups]` of a rule, compact; non-resource URLs as they are. */
export function describeRule(r: PolicyRule): string {
  const verbs = r.verbs.join(',');
  if (r.nonResourceURLs.length > 0 && r.resources.length === 0) return `${verbs} ${r.nonResourceURLs.join(',')}`;
  const groups = r.apiGroups.map((g) => (g === '' ? 'core' : g)).join(',');
  const names = r.resourceNames.length > 0 ? ` [${r.resourceNames.join(',')}]` : '';
  return `${verbs} ${r.resources.join(',')} (${groups})${names}`;
}

function describeSubjectShort(s: Subject): string {
  return s.kind === 'ServiceAccount' ? `ServiceAccount ${s.namespace ? `${s.namespace}:` : ''}${s.name}` : `${s.kind} ${s.name}`;
}

function labels(l: Readonly<Record<string, string>>): string[] {
  return Object.entries(l).map(([k, v]) => `${k}=${v}`);
}

function setDiff(before: string[], after: string[], what: string): string[] {
  const b = new Set(before);
  const a = new Set(after);
  return [...[...b].filter((x) => !a.has(x)).map((x) => `- ${what} ${x}`), ...[...a].filter((x) => !b.has(x)).map((x) => `+ ${what} ${x}`)];
}
