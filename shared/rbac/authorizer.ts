import { aggregateClusterRoles } from './aggregate.js';
import { ruleAllowsCombined } from './ruleAllows.js';
import { MASTERS, type ClusterRole, type PolicyRule, type RbacState, type RequestAttributes, type Role, type RoleRef, type Subject, type UserAttributes } from './types.js';

export interface BindingRef {
  kind: 'ClusterRoleBinding' | 'RoleBinding';
  name: string;
  /** The RoleBinding's namespace; "" for a ClusterRoleBinding. */
  namespace: string;
}

export interface RoleRefResolved {
  kind: 'ClusterRole' | 'Role';
  name: string;
  /** The Role's namespace; "" for a ClusterRole. */
  namespace: string;
}

/** A binding that applies to a user, the role it grants and the subject through which it applies. */
export interface BindingGrant {
  binding: BindingRef;
  role: RoleRefResolved;
  subject: Subject;
  /** The role's rules (converged, for an aggregated ClusterRole). */
  rules: readonly PolicyRule[];
}

/** The binding, role, subject and rule behind an RBAC allow. */
export interface Grant extends Omit<BindingGrant, 'rules'> {
  rule: PolicyRule;
  ruleIndex: number;
}

/**
 * A decision is a value with a reason, never an exception. `reason` is what the apiserver
 * writes in `authorization.k8s.io/reason`: the binding, role and subject of an RBAC allow;
 * "" for the system:masters bypass (not RBAC) and for a plain denial; the errors met (roles
 * not found) otherwise.
 */
export type Decision =
  | { allowed: true; via: 'system:masters'; reason: '' }
  | { allowed: true; via: 'rbac'; reason: string; grant: Grant }
  | { allowed: false; reason: string; errors: string[] };

export interface ResolvedRole {
  ref: RoleRefResolved;
  rules: readonly PolicyRule[];
}

/** The RoleBindings to consult besides the ClusterRoleBindings: of every namespace, or of those listed. */
export type NamespaceScope = 'all' | readonly string[];

interface IndexedBinding {
  ref: BindingRef;
  subjects: Subject[];
  /** Per subject: the username it stands for (subjectUsername), worked out once. */
  usernames: (string | null)[];
  /** Its role, resolved once: roleRefs cannot change, and the state is fixed. */
  role: ResolvedRole | { error: string };
}

/** Bindings of one scope (the cluster, or one namespace), in evaluation order, indexed by subject. */
class BindingIndex {
  readonly bindings: IndexedBinding[];
  private readonly users = new Map<string, number[]>();
  private readonly groups = new Map<string, number[]>();

  constructor(bindings: IndexedBinding[]) {
    // The apiserver walks its informer cache (effectively unordered); by name is reproducible.
    this.bindings = bindings.sort((a, b) => (a.ref.name < b.ref.name ? -1 : a.ref.name > b.ref.name ? 1 : 0));
    this.bindings.forEach((b, i) => {
      b.subjects.forEach((s, j) => {
        const username = b.usernames[j];
        if (username !== null && username !== undefined) add(this.users, username, i);
        else if (s.kind === 'Group') add(this.groups, s.name, i);
      });
    });
  }

  /**
   * The lists of bindings (indexes, ascending) with a subject that may apply to `user`: one for
   * its username, one per group. A binding may be in several.
   */
  candidateLists(user: UserAttributes): number[][] {
    const lists: number[][] = [];
    const u = this.users.get(user.name);
    if (u) lists.push(u);
    for (const g of user.groups) {
      const l = this.groups.get(g);
      if (l) lists.push(l);
    }
    return lists;
  }

  /** The bindings that may apply to `user`, once each, in order. */
  candidates(user: UserAttributes): number[] {
    const lists = this.candidateLists(user);
    if (lists.length <= 1) return lists[0] ?? [];
    return [...new Set(lists.flat())].sort((a, b) => a - b);
  }
}

function add(map: Map<string, number[]>, key: string, i: number): void {
  const list = map.get(key);
  if (!list) map.set(key, [i]);
  else if (list[list.length - 1] !== i) list.push(i);
}

/**
 * The username a User or ServiceAccount subject stands for, within a binding of `bindingNamespace`
 * ("" for a ClusterRoleBinding); null for other kinds, and for a ServiceAccount subject with no
 * namespace in a ClusterRoleBinding (it never applies).
 */
export function subjectUsername(s: Subject, bindingNamespace: string): string | null {
  if (s.kind === 'User') return s.name;
  if (s.kind !== 'ServiceAccount') return null;
  const ns = s.namespace || bindingNamespace;
  return ns ? `system:serviceaccount:${ns}:${s.name}` : null;
}

/** Whether a subject of a binding in `bindingNamespace` applies to `user` (spec/rbac.md §3.2). */
export function appliesTo(s: Subject, user: UserAttributes, bindingNamespace: string): boolean {
  if (s.kind === 'Group') return user.groups.includes(s.name);
  const username = subjectUsername(s, bindingNamespace);
  return username !== null && username === user.name;
}

/**
 * The RBAC authorizer over one state, with its bindings indexed by subject. The chain is the
 * apiserver's: the system:masters group first (it bypasses RBAC), then RBAC:
 * ClusterRoleBindings, then RoleBindings of the request's namespace.
 */
export class Authorizer {
  readonly clusterRoles = new Map<string, ClusterRole>();
  readonly roles = new Map<string, Role>();
  /** Aggregated ClusterRoles whose stored rules are not yet the converged ones. */
  readonly aggregationPending: string[];
  private readonly cluster: BindingIndex;
  private readonly namespaces = new Map<string, BindingIndex>();

  constructor(readonly state: RbacState) {
    const { clusterRoles, pending } = aggregateClusterRoles(state.clusterRoles);
    this.aggregationPending = pending;
    for (const r of clusterRoles) this.clusterRoles.set(r.name, r);
    for (const r of state.roles) this.roles.set(`${r.namespace}/${r.name}`, r);
    const indexed = (ref: BindingRef, roleRef: RoleRef, subjects: Subject[]): IndexedBinding => ({
      ref,
      subjects,
      usernames: subjects.map((s) => subjectUsername(s, ref.namespace)),
      role: this.resolve(roleRef, ref.namespace),
    });
    this.cluster = new BindingIndex(state.clusterRoleBindings.map((b) => indexed({ kind: 'ClusterRoleBinding', name: b.name, namespace: '' }, b.roleRef, b.subjects)));
    const byNs = new Map<string, IndexedBinding[]>();
    for (const b of state.roleBindings) {
      const list = byNs.get(b.namespace) ?? [];
      list.push(indexed({ kind: 'RoleBinding', name: b.name, namespace: b.namespace }, b.roleRef, b.subjects));
      byNs.set(b.namespace, list);
    }
    for (const [ns, list] of byNs) this.namespaces.set(ns, new BindingIndex(list));
  }

  authorize(attrs: RequestAttributes): Decision {
    if (attrs.user.groups.includes(MASTERS)) return { allowed: true, via: 'system:masters', reason: '' };
    const combined = attrs.resourceRequest && attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resourceRequest ? attrs.resource : '';
    // Roles not found, by binding position (scope, then index): the apiserver reports them in walk order.
    let errors: Map<number, string> | null = null;
    const ns = attrs.resourceRequest ? attrs.namespace : '';
    const scopes = ns ? [this.cluster, this.namespaces.get(ns)] : [this.cluster];
    for (let scope = 0; scope < scopes.length; scope++) {
      const index = scopes[scope];
      if (!index) continue;
      // The first allowing binding in order: each candidate list is ascending, so each is
      // scanned only up to the best found so far (no merge of the lists is needed).
      let best = -1;
      let bestRule = -1;
      let bestSubject: Subject | undefined;
      for (const list of index.candidateLists(attrs.user)) {
        for (const i of list) {
          if (best >= 0 && i >= best) break;
          const b = index.bindings[i]!;
          const subject = firstApplying(b, attrs.user);
          if (!subject) continue;
          if ('error' in b.role) {
            (errors ??= new Map()).set(scope * 2 ** 32 + i, b.role.error);
            continue;
          }
          const r = firstAllowing(attrs, combined, b.role.rules);
          if (r < 0) continue;
          best = i;
          bestRule = r;
          bestSubject = subject;
          break;
        }
      }
      if (best >= 0) {
        const b = index.bindings[best]!;
        const role = b.role as ResolvedRole;
        const grant: Grant = { binding: b.ref, role: role.ref, subject: bestSubject!, rule: role.rules[bestRule]!, ruleIndex: bestRule };
        return { allowed: true, via: 'rbac', reason: allowReason(grant), grant };
      }
    }
    const messages = errors ? [...errors].sort((x, y) => x[0] - y[0]).map(([, m]) => m) : [];
    return { allowed: false, reason: messages.length === 0 ? '' : `RBAC: ${aggregateErrors(messages)}`, errors: messages };
  }

  /**
   * Every binding that applies to `user` — ClusterRoleBindings, and RoleBindings of every
   * namespace or of the namespaces given — with the role it grants; roles not found are skipped.
   */
  grantsFor(user: UserAttributes, namespaces: NamespaceScope = 'all'): BindingGrant[] {
    const out: BindingGrant[] = [];
    for (const index of this.scopes(namespaces)) {
      for (const i of index.candidates(user)) {
        const b = index.bindings[i]!;
        const subject = firstApplying(b, user);
        if (subject && !('error' in b.role)) out.push({ binding: b.ref, role: b.role.ref, subject, rules: b.role.rules });
      }
    }
    return out;
  }

  /** Every ClusterRoleBinding, and the RoleBindings of the namespaces given, with the role of each or why it has none. */
  *allBindings(namespaces: NamespaceScope): Generator<{ binding: BindingRef; subjects: Subject[]; role: ResolvedRole | { error: string } }> {
    for (const index of this.scopes(namespaces)) for (const b of index.bindings) yield { binding: b.ref, subjects: b.subjects, role: b.role };
  }

  private scopes(namespaces: NamespaceScope): BindingIndex[] {
    if (namespaces === 'all') return [this.cluster, ...this.namespaces.values()];
    return [this.cluster, ...namespaces.flatMap((ns) => this.namespaces.get(ns) ?? [])];
  }

  /** The role a binding in `bindingNamespace` ("" for a ClusterRoleBinding) refers to, or the apiserver's error. */
  resolve(ref: RoleRef, bindingNamespace: string): ResolvedRole | { error: string } {
    if (ref.kind === 'ClusterRole') {
      const r = this.clusterRoles.get(ref.name);
      return r ? { ref: { kind: 'ClusterRole', name: ref.name, namespace: '' }, rules: r.rules } : { error: `clusterrole.rbac.authorization.k8s.io ${goQuote(ref.name)} not found` };
    }
    if (ref.kind === 'Role') {
      const r = this.roles.get(`${bindingNamespace}/${ref.name}`);
      return r ? { ref: { kind: 'Role', name: ref.name, namespace: bindingNamespace }, rules: r.rules } : { error: `role.rbac.authorization.k8s.io ${goQuote(ref.name)} not found` };
    }
    return { error: `unsupported role reference kind: ${goQuote(ref.kind)}` };
  }
}

/** The first subject of a binding that applies to `user` (appliesTo, with the usernames worked out). */
function firstApplying(b: IndexedBinding, user: UserAttributes): Subject | undefined {
  for (let j = 0; j < b.subjects.length; j++) {
    const s = b.subjects[j]!;
    if (s.kind === 'Group' ? user.groups.includes(s.name) : b.usernames[j] === user.name) return s;
  }
  return undefined;
}

function firstAllowing(attrs: RequestAttributes, combined: string, rules: readonly PolicyRule[]): number {
  for (let i = 0; i < rules.length; i++) if (ruleAllowsCombined(attrs, combined, rules[i]!)) return i;
  return -1;
}

/** The apiserver's reason for an RBAC allow (rbac.go, rule.go describers). */
export function allowReason(g: Grant): string {
  const binding = g.binding.kind === 'RoleBinding' ? `RoleBinding ${goQuote(`${g.binding.name}/${g.binding.namespace}`)}` : `ClusterRoleBinding ${goQuote(g.binding.name)}`;
  return `RBAC: allowed by ${binding} of ${g.role.kind} ${goQuote(g.role.name)} to ${describeSubject(g.subject, g.binding.namespace)}`;
}

export function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${goQuote(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${goQuote(s.name)}`;
}

/** Several errors as Go's utilerrors aggregate prints them: one alone, or `[e1, e2]` without repeats. */
export function aggregateErrors(errors: readonly string[]): string {
  const unique = [...new Set(errors)];
  return errors.length === 1 || unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
}

/** A string as Go's %q prints it (for the names Kubernetes allows: escapes `"` and `\`, control characters). */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\u2028|\u2029/g, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}
