import type { Authorizer } from './authorizer.js';
import { describeSubject, subjectUsername } from './authorizer.js';
import { ruleDangers, type Danger } from './danger.js';
import { describeRule } from './diffStates.js';
import { requestKey, type BindingUsage, type RuleUse, type SubjectActivity, type UsageAnalysis } from './usageAnalysis.js';
import { MASTERS, type PolicyRule, type Subject } from './types.js';
import { calendarDaysBetween } from '../calendar.js';

/**
 * The report an admin takes to a change review (kubetrail rbac report): per subject what it is
 * granted and what it used, unused and removable bindings, dangerous permissions granted but
 * unused first, subjects never seen. Pure: built from an analysis (usageAnalysis.ts).
 */

export interface ReportWindow {
  /** Microseconds; whole UTC days (the rollups are daily). */
  since: number;
  until: number;
  /** Days of the window with stored activity: a gap in ingest is a gap in what the store knows. */
  coveredDays: number;
  /** The least coverage, in days, for anything to be called unused. */
  minDays: number;
  /** What the cluster's audit log does not record that this report needs (analysis/coverage.ts). */
  blindSpots?: string[];
}

export interface RequestSummary {
  request: string;
  count: number;
}

export interface RuleReport {
  rule: string;
  /** For a resourceNames rule: the one name this entry is about. */
  resourceName?: string;
  used: boolean;
  count: number;
  firstSeen: string | null;
  lastSeen: string | null;
  samples: string[];
  /** The most frequent requests it allowed. */
  requests: RequestSummary[];
  danger: string[];
  dangerWeight: number;
}

export interface BindingReport {
  binding: string;
  role: string;
  /** The subject through which it applies: `User "x"`, `Group "g"`, `ServiceAccount "ns/n"`. */
  via: string;
  used: boolean;
  /** Removing it denies no observed request (the other bindings in place); null when not judged. */
  removable: boolean | null;
  /** Why it cannot go: an observed request only it allows. */
  neededFor?: string;
  /** Created and kept by the apiserver itself: removing it has no lasting effect. */
  bootstrap: boolean;
  requests: number;
  rules: RuleReport[];
}

export interface SubjectReport {
  kind: 'User' | 'ServiceAccount' | 'Group';
  name: string;
  /** Groups seen with its requests (users and service accounts). */
  groups: string[];
  active: boolean;
  requests: { total: number; allowed: number; denied: number; unknown: number };
  firstSeen: string | null;
  lastSeen: string | null;
  granted: number;
  used: number;
  unused: number;
  /** used / granted; null when nothing is granted. */
  usageRatio: number | null;
  /** Whether unused permissions are claimed for this subject (window long enough, subject active). */
  judged: boolean;
  note?: string;
  bindings: BindingReport[];
  /** Dangerous rules granted but unused, worst first. */
  unusedDangerous: { binding: string; role: string; rule: string; danger: string[] }[];
  /** Requests of other bindings (through groups) that this subject used. */
  viaGroups: { binding: string; role: string; via: string; requests: number }[];
}

export interface UsageReport {
  cluster: string;
  snapshot: string;
  window: { since: string; until: string; days: number; coveredDays: number; minDays: number; sufficient: boolean; note?: string; blindSpots?: string[] };
  totals: { subjects: number; active: number; bindings: number; unusedBindings: number; removableBindings: number; unusedDangerous: number; drift: number };
  subjects: SubjectReport[];
  neverSeen: { kind: string; name: string; bindings: string[] }[];
  idleServiceAccounts: string[];
  drift: { recorded: string; evaluated: string; example: string; requests: number; count: number; samples: string[] }[];
  /** Requests allowed outside RBAC: the system:masters bypass, other authorizers. */
  outsideRbac: { subject: string; how: string; count: number }[];
}

export interface ReportOptions {
  cluster: string;
  snapshot: string;
  window: ReportWindow;
  /** Only these subjects (username, service account username, or group name). */
  subjects?: readonly string[];
  /** Only bindings and requests of this namespace (ClusterRoleBindings still count). */
  namespace?: string;
}

const TOP_REQUESTS = 5;

function iso(us: number | null): string | null {
  return us === null ? null : new Date(Math.floor(us / 1000)).toISOString();
}

/** Bindings and roles the apiserver creates and reconciles at every start. */
function isBootstrap(b: BindingUsage): boolean {
  return b.ref.name.startsWith('system:') || (b.ref.kind === 'ClusterRoleBinding' && b.ref.name === 'cluster-admin') || (b.ref.kind === 'RoleBinding' && b.ref.namespace === 'kube-system' && b.ref.name.startsWith('system:'));
}

/** `RoleBinding ns/name` or `ClusterRoleBinding name`. */
export function bindingLabel(b: BindingUsage): string {
  return b.ref.kind === 'RoleBinding' ? `RoleBinding ${b.ref.namespace}/${b.ref.name}` : `ClusterRoleBinding ${b.ref.name}`;
}

/** `Role ns/name`, `ClusterRole name`, or why the role is missing. */
export function roleLabel(b: BindingUsage): string {
  if (!b.role) return `(missing: ${b.roleError ?? 'not found'})`;
  return b.role.kind === 'Role' ? `Role ${b.role.namespace}/${b.role.name}` : `ClusterRole ${b.role.name}`;
}

/** A rule's entries: one, or one per name for a resourceNames rule. */
function ruleEntries(rule: PolicyRule, index: number): { key: string; resourceName?: string }[] {
  return rule.resourceNames.length > 0 ? rule.resourceNames.map((n) => ({ key: `${index}/${n}`, resourceName: n })) : [{ key: String(index) }];
}

function ruleReports(b: BindingUsage, user: string | null): RuleReport[] {
  const out: RuleReport[] = [];
  b.rules.forEach((rule, index) => {
    const dangers: Danger[] = ruleDangers(rule);
    for (const e of ruleEntries(rule, index)) {
      const use: RuleUse | undefined = b.uses.get(e.key);
      const mine = use && (user === null || use.users.has(user)) ? use : undefined;
      const requests = mine
        ? [...mine.requests.values()].filter((r) => user === null || r.attrs.user.name === user).sort((x, y) => y.count - x.count)
        : [];
      const count = user === null || !mine ? (mine?.count ?? 0) : requests.reduce((n, r) => n + r.count, 0);
      out.push({
        rule: describeRule(e.resourceName !== undefined ? { ...rule, resourceNames: [e.resourceName] } : rule),
        ...(e.resourceName !== undefined ? { resourceName: e.resourceName } : {}),
        used: count > 0,
        count,
        firstSeen: iso(mine?.firstAt ?? null),
        lastSeen: iso(mine?.lastAt ?? null),
        samples: mine?.samples ?? [],
        requests: requests.slice(0, TOP_REQUESTS).map((r) => ({ request: requestKey(r.attrs), count: r.count })),
        danger: dangers.map((d) => d.why),
        dangerWeight: dangers[0]?.weight ?? 0,
      });
    }
  });
  return out;
}

function subjectOf(s: Subject, b: BindingUsage): { kind: SubjectReport['kind']; name: string } | null {
  if (s.kind === 'Group') return { kind: 'Group', name: s.name };
  const username = subjectUsername(s, b.ref.namespace);
  if (username === null) return null;
  return { kind: s.kind === 'ServiceAccount' ? 'ServiceAccount' : 'User', name: username };
}

export function buildUsageReport(current: Authorizer, analysis: UsageAnalysis, opts: ReportOptions): UsageReport {
  const w = opts.window;
  const coveredDays = w.coveredDays;
  const sufficient = coveredDays >= w.minDays;
  const windowNote = sufficient
    ? undefined
    : `the store holds ${coveredDays} day(s) of activity in this window, fewer than the minimum of ${w.minDays}: nothing is called unused or removable (set rbac.minWindowDays, or report again later)`;

  const inScope = (b: BindingUsage) => opts.namespace === undefined || b.ref.kind === 'ClusterRoleBinding' || b.ref.namespace === opts.namespace;
  const bindings = [...analysis.bindings.values()].filter(inScope).sort((a, b) => (a.key < b.key ? -1 : 1));

  // Every subject: those named by bindings, and those seen.
  const entries = new Map<string, { kind: SubjectReport['kind']; name: string; direct: { b: BindingUsage; via: string }[] }>();
  const entry = (kind: SubjectReport['kind'], name: string) => {
    const key = `${kind}\u0000${name}`;
    let e = entries.get(key);
    if (!e) entries.set(key, (e = { kind, name, direct: [] }));
    return e;
  };
  for (const b of bindings) {
    const seen = new Set<string>();
    for (const s of b.subjects) {
      const who = subjectOf(s, b);
      if (!who || seen.has(`${who.kind}/${who.name}`)) continue;
      seen.add(`${who.kind}/${who.name}`);
      entry(who.kind, who.name).direct.push({ b, via: describeSubject(s, b.ref.namespace) });
    }
  }
  for (const s of analysis.subjects.values()) entry(s.user.name.startsWith('system:serviceaccount:') ? 'ServiceAccount' : 'User', s.user.name);

  const groupMembers = new Map<string, SubjectActivity[]>();
  for (const s of analysis.subjects.values()) for (const g of s.user.groups) (groupMembers.get(g) ?? groupMembers.set(g, []).get(g)!).push(s);

  const wanted = opts.subjects ? new Set(opts.subjects) : null;
  const subjects: SubjectReport[] = [];
  const neverSeen: UsageReport['neverSeen'] = [];
  for (const e of entries.values()) {
    if (wanted && !wanted.has(e.name)) continue;
    const activity = e.kind === 'Group' ? null : analysis.subjects.get(e.name);
    const members = e.kind === 'Group' ? (groupMembers.get(e.name) ?? []) : activity ? [activity] : [];
    const active = members.length > 0;
    if (!active && e.direct.length > 0) neverSeen.push({ kind: e.kind, name: e.name, bindings: e.direct.map((d) => bindingLabel(d.b)) });
    // Bindings to system:masters never take effect: the apiserver allows its members before RBAC.
    const bypassed = e.kind === 'Group' && e.name === MASTERS;
    const judged = sufficient && active && !bypassed;
    const user = e.kind === 'Group' ? null : e.name;
    const bindingReports = e.direct.map(({ b, via }): BindingReport => {
      const rules = ruleReports(b, user);
      const requests = rules.reduce((n, r) => n + r.count, 0);
      return {
        binding: bindingLabel(b),
        role: roleLabel(b),
        via,
        used: requests > 0,
        removable: sufficient ? b.neededBy === 0 : null,
        ...(b.neededFor ? { neededFor: requestKey(b.neededFor) } : {}),
        bootstrap: isBootstrap(b),
        requests,
        rules,
      };
    });
    const all = bindingReports.flatMap((b) => b.rules.map((r) => ({ b, r })));
    const used = all.filter((x) => x.r.used).length;
    const unusedDangerous = judged
      ? all
          .filter((x) => !x.r.used && x.r.danger.length > 0)
          .sort((x, y) => y.r.dangerWeight - x.r.dangerWeight)
          .map((x) => ({ binding: x.b.binding, role: x.b.role, rule: x.r.rule, danger: x.r.danger }))
      : [];
    const viaGroups: SubjectReport['viaGroups'] = [];
    if (activity) {
      const direct = new Set(e.direct.map((d) => d.b.key));
      const counts = new Map<string, number>();
      for (const { record, credit } of activity.records) if (credit.kind === 'rbac' && !direct.has(credit.binding)) counts.set(credit.binding, (counts.get(credit.binding) ?? 0) + record.count);
      for (const [key, n] of counts) {
        const b = analysis.bindings.get(key)!;
        const s = b.subjects.find((s) => s.kind === 'Group' && activity.user.groups.includes(s.name));
        viaGroups.push({ binding: bindingLabel(b), role: roleLabel(b), via: s ? describeSubject(s, b.ref.namespace) : '', requests: n });
      }
      viaGroups.sort((x, y) => y.requests - x.requests);
    }
    const requests = members.reduce(
      (t, m) => ({ total: t.total + m.requests, allowed: t.allowed + m.allowed, denied: t.denied + m.denied, unknown: t.unknown + m.unknown }),
      { total: 0, allowed: 0, denied: 0, unknown: 0 },
    );
    subjects.push({
      kind: e.kind,
      name: e.name,
      groups: activity ? [...activity.user.groups].sort() : [],
      active,
      requests,
      firstSeen: iso(members.length ? Math.min(...members.map((m) => m.firstAt)) : null),
      lastSeen: iso(members.length ? Math.max(...members.map((m) => m.lastAt)) : null),
      granted: all.length,
      used,
      unused: judged ? all.length - used : 0,
      usageRatio: all.length === 0 ? null : Math.round((used / all.length) * 1000) / 1000,
      judged,
      ...(bypassed
        ? { note: 'system:masters bypasses RBAC: its bindings are never consulted' }
        : !sufficient
          ? { note: 'window too short: unused permissions are not claimed' }
          : !active
            ? { note: 'not seen in the window: unused permissions are not claimed' }
            : {}),
      bindings: bindingReports,
      unusedDangerous,
      viaGroups,
    });
  }
  // Worst first: dangerous unused grants, then unused grants, then name.
  subjects.sort((a, b) => b.unusedDangerous.length - a.unusedDangerous.length || b.unused - a.unused || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const seenNames = new Set(analysis.subjects.keys());
  const idleServiceAccounts = current.state.serviceAccounts
    .filter((sa) => opts.namespace === undefined || sa.namespace === opts.namespace)
    .map((sa) => `system:serviceaccount:${sa.namespace}:${sa.name}`)
    .filter((u) => !seenNames.has(u))
    .sort();

  const outside = new Map<string, { subject: string; how: string; count: number }>();
  for (const s of analysis.subjects.values()) {
    if (wanted && !wanted.has(s.user.name)) continue;
    for (const { record, credit } of s.records) {
      if (credit.kind !== 'system:masters' && credit.kind !== 'other-authorizer') continue;
      const how = credit.kind === 'system:masters' ? 'system:masters (RBAC bypassed)' : `another authorizer: ${credit.reason || '(no reason given)'}`;
      const key = `${s.user.name}\u0000${how}`;
      const o = outside.get(key) ?? outside.set(key, { subject: s.user.name, how, count: 0 }).get(key)!;
      o.count += record.count;
    }
  }

  const removable = bindings.filter((b) => sufficient && b.neededBy === 0);
  // A report of some subjects: their drift only.
  const drift = analysis.drift.filter((d) => !wanted || [...d.subjects].some((name) => wanted.has(name)));
  return {
    cluster: opts.cluster,
    snapshot: opts.snapshot,
    window: { since: iso(w.since)!, until: iso(w.until)!, days: calendarDaysBetween(w.since, w.until), coveredDays, minDays: w.minDays, sufficient, ...(windowNote ? { note: windowNote } : {}), ...(w.blindSpots?.length ? { blindSpots: w.blindSpots } : {}) },
    totals: {
      subjects: subjects.length,
      active: subjects.filter((s) => s.active).length,
      bindings: bindings.length,
      unusedBindings: bindings.filter((b) => b.uses.size === 0).length,
      removableBindings: removable.length,
      unusedDangerous: subjects.reduce((n, s) => n + s.unusedDangerous.length, 0),
      drift: drift.length,
    },
    subjects,
    neverSeen: neverSeen.sort((a, b) => (a.name < b.name ? -1 : 1)),
    idleServiceAccounts,
    drift: drift.map((d) => ({ recorded: d.recorded, evaluated: d.evaluated, example: `${d.example.user.name}: ${requestKey(d.example)}`, requests: d.requests, count: d.count, samples: d.samples })),
    outsideRbac: [...outside.values()].sort((a, b) => b.count - a.count),
  };
}
