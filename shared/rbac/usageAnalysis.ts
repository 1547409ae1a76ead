import { Authorizer, type BindingRef, type RoleRefResolved } from './authorizer.js';
import { ruleAllows } from './ruleAllows.js';
import { bypassesRbac } from './subjects.js';
import type { PolicyRule, RequestAttributes, Subject, UserAttributes } from './types.js';

/**
 * Granted versus observed (spec/rbac.md §5): credits each observed request to the binding and
 * rule that allowed it — the binding the apiserver named in `authorization.k8s.io/reason`, else
 * the one the evaluator finds in the same RBAC — and finds, per binding, whether any observed
 * request needs it. Pure: the caller reads the usage and the snapshot.
 */

export type ObservedDecision = 'allow' | 'forbid' | 'unknown';

/** Requests of one subject with the same attributes, decision and reason, over the window. */
export interface UsageRecord {
  attrs: RequestAttributes;
  decision: ObservedDecision;
  /** `authorization.k8s.io/reason`; null when the event had none (its decision was inferred, or a synthetic check). */
  reason: string | null;
  /** A check the apiserver made without auditing it (impersonate), derived from the request. */
  synthetic: boolean;
  count: number;
  firstAt: number;
  lastAt: number;
  /** auditIDs of some of these requests. */
  samples: string[];
}

/** How a request came to be allowed, or why it is not credited to RBAC. */
export type Credit =
  | { kind: 'rbac'; binding: string; ruleIndex: number; source: 'reason' | 'evaluator' }
  | { kind: 'system:masters' }
  /** Allowed by another authorizer (Node, webhook): not determinable from RBAC. */
  | { kind: 'other-authorizer'; reason: string }
  /** Allowed or unknown, but the snapshot allows it through no binding (see drift). */
  | { kind: 'unexplained' }
  | { kind: 'denied' };

/** One use counted against a rule, or a name of a resourceNames rule. */
export interface RuleUse {
  ruleIndex: number;
  /** For a rule with resourceNames: the one name this entry is about. */
  resourceName?: string;
  count: number;
  firstAt: number;
  lastAt: number;
  samples: string[];
  /** Usernames of the subjects whose requests this rule allowed. */
  users: Set<string>;
  /** What was done under it, by attributes, with counts. */
  requests: Map<string, { attrs: RequestAttributes; count: number }>;
}

export interface BindingUsage {
  key: string;
  ref: BindingRef;
  role: RoleRefResolved | null;
  /** Why the role could not be resolved, when it could not. */
  roleError?: string;
  subjects: Subject[];
  rules: readonly PolicyRule[];
  /** Per rule index (and name, for resourceNames rules): the uses credited. */
  uses: Map<string, RuleUse>;
  /** Observed requests (count) that only this binding allows now: it cannot go without them. */
  neededBy: number;
  /** One such request, to show why. */
  neededFor?: RequestAttributes;
}

/** A disagreement between the apiserver's recorded decisions and the evaluator on the snapshot, by reason. */
export interface Drift {
  recorded: string;
  evaluated: string;
  /** One of the requests, to show what. */
  example: RequestAttributes;
  /** Distinct requests (subject and attributes) and how many times they were made. */
  requests: number;
  count: number;
  samples: string[];
  /** The usernames and groups of its requests: a report of some subjects shows only their drift. */
  subjects: Set<string>;
}

export interface SubjectActivity {
  user: UserAttributes;
  requests: number;
  allowed: number;
  denied: number;
  unknown: number;
  firstAt: number;
  lastAt: number;
  records: { record: UsageRecord; credit: Credit }[];
}

export interface UsageAnalysis {
  bindings: Map<string, BindingUsage>;
  /** By username (the groups of every record of that username, merged). */
  subjects: Map<string, SubjectActivity>;
  drift: Drift[];
}

function bindingKey(ref: BindingRef): string {
  return ref.kind === 'RoleBinding' ? `RoleBinding/${ref.namespace}/${ref.name}` : `ClusterRoleBinding/${ref.name}`;
}

const REASON = /^RBAC: allowed by (ClusterRoleBinding|RoleBinding) ("(?:[^"\\]|\\.)*") of (?:ClusterRole|Role) "(?:[^"\\]|\\.)*" to .*$/s;

/** The binding an RBAC allow reason names (spec/k8s-audit.md §8.1), or null when it is not one. */
export function bindingInReason(reason: string): BindingRef | null {
  const m = REASON.exec(reason);
  if (!m) return null;
  const quoted = JSON.parse(m[2]!) as string;
  if (m[1] === 'ClusterRoleBinding') return { kind: 'ClusterRoleBinding', name: quoted, namespace: '' };
  // RoleBinding "name/namespace": neither may contain a slash.
  const slash = quoted.lastIndexOf('/');
  return slash < 0 ? null : { kind: 'RoleBinding', name: quoted.slice(0, slash), namespace: quoted.slice(slash + 1) };
}

const SAMPLES = 3;

function addSamples(into: string[], from: readonly string[]): void {
  for (const s of from) if (into.length < SAMPLES && !into.includes(s)) into.push(s);
}

export function requestKey(a: RequestAttributes): string {
  return a.resourceRequest ? `${a.verb} ${a.apiGroup}/${a.resource}/${a.subresource} ${a.namespace}/${a.name}` : `${a.verb} ${a.path}`;
}

/** The key of a rule's use entry: its index, and the name for resourceNames rules. */
function useKey(ruleIndex: number, rule: PolicyRule, name: string): { key: string; resourceName?: string } {
  return rule.resourceNames.length > 0 ? { key: `${ruleIndex}/${name}`, resourceName: name } : { key: String(ruleIndex) };
}

/**
 * Analyses the usage of one cluster against one RBAC (`current`): it names what is granted, and
 * judges the requests the apiserver gave no reason for.
 */
export function analyseUsage(current: Authorizer, usage: Iterable<{ user: UserAttributes; record: UsageRecord }>): UsageAnalysis {
  const bindings = new Map<string, BindingUsage>();
  for (const b of current.allBindings('all')) {
    const key = bindingKey(b.binding);
    const role = 'error' in b.role ? null : b.role;
    bindings.set(key, {
      key, ref: b.binding, role: role?.ref ?? null, ...('error' in b.role ? { roleError: b.role.error } : {}),
      subjects: b.subjects, rules: role?.rules ?? [], uses: new Map(), neededBy: 0,
    });
  }
  const subjects = new Map<string, SubjectActivity>();
  const drift = new Map<string, Drift>();
  const noteDrift = (r: UsageRecord, recorded: string, evaluated: string) => {
    const key = `${recorded}\u0000${evaluated}`;
    const d = drift.get(key);
    const who = [r.attrs.user.name, ...r.attrs.user.groups];
    if (d) {
      d.requests++;
      d.count += r.count;
      addSamples(d.samples, r.samples);
      for (const w of who) d.subjects.add(w);
    } else drift.set(key, { recorded, evaluated, example: r.attrs, requests: 1, count: r.count, samples: r.samples.slice(0, SAMPLES), subjects: new Set(who) });
  };

  const credit = (b: BindingUsage, ruleIndex: number, r: UsageRecord) => {
    const rule = b.rules[ruleIndex]!;
    const { key, resourceName } = useKey(ruleIndex, rule, r.attrs.resourceRequest ? r.attrs.name : '');
    let u = b.uses.get(key);
    if (!u) {
      u = { ruleIndex, ...(resourceName !== undefined ? { resourceName } : {}), count: 0, firstAt: r.firstAt, lastAt: r.lastAt, samples: [], users: new Set(), requests: new Map() };
      b.uses.set(key, u);
    }
    u.count += r.count;
    u.firstAt = Math.min(u.firstAt, r.firstAt);
    u.lastAt = Math.max(u.lastAt, r.lastAt);
    addSamples(u.samples, r.samples);
    u.users.add(r.attrs.user.name);
    const rk = requestKey(r.attrs);
    const req = u.requests.get(rk);
    if (req) req.count += r.count;
    else u.requests.set(rk, { attrs: r.attrs, count: r.count });
  };

  /** Credits a request to the binding the evaluator finds. */
  const evaluate = (r: UsageRecord): Credit => {
    const d = current.authorize(r.attrs);
    if (!d.allowed) return { kind: 'unexplained' };
    if (d.via === 'system:masters') return { kind: 'system:masters' };
    const b = bindings.get(bindingKey(d.grant.binding));
    // A binding since removed: the use is real, but there is nothing left to credit.
    if (!b || !b.rules[d.grant.ruleIndex] || !ruleAllows(r.attrs, b.rules[d.grant.ruleIndex]!)) return { kind: 'unexplained' };
    credit(b, d.grant.ruleIndex, r);
    return { kind: 'rbac', binding: b.key, ruleIndex: d.grant.ruleIndex, source: 'evaluator' };
  };

  const judge = (r: UsageRecord): Credit => {
    if (r.decision === 'forbid') {
      const d = current.authorize(r.attrs);
      if (d.allowed) noteDrift(r, 'forbid', d.reason || 'allow (system:masters)');
      return { kind: 'denied' };
    }
    // No authorizer named: the snapshot judges who allowed it.
    if (r.synthetic || r.decision === 'unknown' || r.reason === null) {
      const c = evaluate(r);
      if (c.kind === 'unexplained' && r.decision === 'allow') noteDrift(r, r.synthetic ? 'allow (impersonation passed)' : 'allow (inferred from the response)', 'no binding allows it');
      return c;
    }
    // Recorded allow, with the authorizer's reason.
    if (r.reason === '' && bypassesRbac(r.attrs.user)) return { kind: 'system:masters' };
    const named = bindingInReason(r.reason);
    if (!named) {
      if (r.reason.startsWith('RBAC')) noteDrift(r, r.reason, 'an allow reason kubetrail cannot read');
      return { kind: 'other-authorizer', reason: r.reason };
    }
    const b = bindings.get(bindingKey(named));
    const ruleIndex = b ? b.rules.findIndex((rule) => ruleAllows(r.attrs, rule)) : -1;
    if (b && ruleIndex >= 0) {
      credit(b, ruleIndex, r);
      return { kind: 'rbac', binding: b.key, ruleIndex, source: 'reason' };
    }
    noteDrift(r, r.reason, b ? `the snapshot's ${b.role?.kind ?? 'role'} of that binding does not allow it` : 'the snapshot has no such binding');
    return evaluate(r);
  };

  for (const { user, record } of usage) {
    let s = subjects.get(user.name);
    if (!s) {
      s = { user: { name: user.name, groups: [...user.groups] }, requests: 0, allowed: 0, denied: 0, unknown: 0, firstAt: record.firstAt, lastAt: record.lastAt, records: [] };
      subjects.set(user.name, s);
    } else {
      for (const g of user.groups) if (!s.user.groups.includes(g)) (s.user.groups as string[]).push(g);
    }
    const c = judge(record);
    if (!record.synthetic) {
      s.requests += record.count;
      if (record.decision === 'allow') s.allowed += record.count;
      else if (record.decision === 'forbid') s.denied += record.count;
      else s.unknown += record.count;
      s.firstAt = Math.min(s.firstAt, record.firstAt);
      s.lastAt = Math.max(s.lastAt, record.lastAt);
    }
    s.records.push({ record, credit: c });
  }

  markNeeded(current, bindings, subjects);
  return { bindings, subjects, drift: [...drift.values()].sort((a, b) => b.count - a.count) };
}

/**
 * For each observed request RBAC allowed, the bindings (of its subject, in the current RBAC)
 * that allow it; a binding that is the only one for some request is needed. Every other
 * binding can be removed without denying anything observed, the others staying in place.
 */
function markNeeded(current: Authorizer, bindings: Map<string, BindingUsage>, subjects: Map<string, SubjectActivity>): void {
  for (const s of subjects.values()) {
    if (bypassesRbac(s.user)) continue;
    const grants = new Map<string, BindingUsage[]>();
    const grantsIn = (ns: string): BindingUsage[] => {
      let list = grants.get(ns);
      if (!list) {
        list = current.grantsFor(s.user, ns ? [ns] : []).flatMap((g) => {
          if (g.binding.kind === 'RoleBinding' && g.binding.namespace !== ns) return [];
          return bindings.get(bindingKey(g.binding)) ?? [];
        });
        grants.set(ns, list);
      }
      return list;
    };
    for (const { record, credit } of s.records) {
      if (credit.kind !== 'rbac') continue;
      const a = record.attrs;
      const allowers = grantsIn(a.resourceRequest ? a.namespace : '').filter((b) => b.rules.some((rule) => ruleAllows(a, rule)));
      if (allowers.length === 1) {
        const b = allowers[0]!;
        if (b.neededBy === 0) b.neededFor = a;
        b.neededBy += record.count;
      }
    }
  }
}
