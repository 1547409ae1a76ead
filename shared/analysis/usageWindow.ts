import { InputError } from '../errors.js';
import { bootstrapDiscoveryState } from '../rbac/bootstrapDiscovery.js';
import { Authorizer } from '../rbac/authorizer.js';
import { bypassesRbac } from '../rbac/subjects.js';
import { emptyState, type RbacState, type RequestAttributes } from '../rbac/types.js';
import { analyseUsage, requestKey, type SubjectActivity, type UsageAnalysis, type UsageRecord } from '../rbac/usageAnalysis.js';
import { bindingLabel, buildUsageReport, roleLabel, type UsageReport } from '../rbac/usageReport.js';
import { describeRule } from '../rbac/diffStates.js';
import {
  DEFAULT_RECOMMEND_OPTIONS, dryRun, recommend, targetUsername, withoutTarget, withProposal,
  type DryRun, type Proposal, type RecommendOptions, type Replayed, type Target,
} from '../rbac/recommend.js';
import { accountActivity, type AccountActivity } from '../rbac/staleAccounts.js';
import { evaluateCoverage, usageDegradations } from './coverage.js';
import { collect } from '../rows.js';
import type { QueryStore } from '../storage/port.js';
import { ceilToUtcDay, startOfUtcDay } from '../calendar.js';

/**
 * The usage analysis over a window of the store (the query layer of the analyzer): which RBAC to judge by,
 * the rollups of the window, judged by that one RBAC. Used by `kubetrail rbac report`
 * and `rbac recommend`, and by the query API.
 */


export interface WindowOptions {
  cluster: string;
  /** Microseconds; rounded out to whole UTC days (the rollups are daily). */
  since: number;
  until: number;
  namespace?: string;
  minDays: number;
}

/** The RBAC to judge by: a stored snapshot (by id, or the cluster's newest), or files. */
export type StateSource = { kind: 'snapshot'; id?: number } | { kind: 'files'; state: RbacState; origin: string };

export interface WindowAnalysis {
  current: Authorizer;
  origin: string;
  analysis: UsageAnalysis;
  window: { since: number; until: number; coveredDays: number; minDays: number };
}

function wholeDays(o: WindowOptions): { since: number; until: number } {
  return { since: startOfUtcDay(o.since), until: ceilToUtcDay(o.until) };
}

/** The RBAC a question is asked of: files, a snapshot by id, or the cluster's newest. Throws InputError (exit 2) without one. */
export async function resolveState(store: QueryStore, source: StateSource, cluster: string): Promise<{ state: RbacState; origin: string; snapshotId: number | null }> {
  if (source.kind === 'files') return { state: source.state, origin: source.origin, snapshotId: null };
  const snap = source.id !== undefined ? await store.snapshots.get(source.id) : await store.snapshots.latest(cluster);
  if (!snap) {
    throw new InputError(`no RBAC snapshot of cluster '${cluster}' in the store: run \`kubetrail rbac load FILE…\` or \`kubetrail rbac load --from-cluster\` first, or give the RBAC with -f FILE`);
  }
  return { state: snap.state, origin: `snapshot ${snap.id} of ${snap.cluster} (${new Date(snap.takenAt / 1000).toISOString()})`, snapshotId: snap.id };
}

/**
 * Loads the RBAC and the window's usage and analyses them. One RBAC judges both what is granted
 * and what each request used (the snapshot named, else the cluster's newest): judging use by
 * another snapshot than the grants would call used permissions unused. Throws InputError
 * (exit 2) without a snapshot.
 */
export async function analyseWindow(store: QueryStore, source: StateSource, o: WindowOptions): Promise<WindowAnalysis> {
  const resolved = await resolveState(store, source, o.cluster);
  const current = new Authorizer(resolved.state);
  const origin = resolved.origin;
  const w = wholeDays(o);
  const analysis = analyseUsage(current, await readWindow(store, o));
  const blindSpots = await blindSpotsOf(store, o, 'rbac report');
  return { current, origin, analysis, window: { ...w, coveredDays: await store.usage.daysCovered({ cluster: o.cluster, ...w }), minDays: o.minDays, ...(blindSpots.length ? { blindSpots } : {}) } };
}

/** What the cluster's stored events of the window do not record that a report needs (analysis/coverage.ts). */
export async function blindSpotsOf(store: QueryStore, o: WindowOptions, report: 'rbac report' | 'rbac recommend'): Promise<string[]> {
  // A smaller sample than `kubetrail coverage` counts: it is asked before every report.
  return usageDegradations(evaluateCoverage(await store.status.coverage({ cluster: o.cluster, since: o.since, until: o.until, sample: 20_000 })), report);
}

/** The usage of the window's whole days (the analysis keeps every record; so does this list, no more). */
function readWindow(store: QueryStore, o: WindowOptions) {
  return collect(store.usage.read({ cluster: o.cluster, ...wholeDays(o), ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) }));
}

export async function usageReport(store: QueryStore, source: StateSource, o: WindowOptions & { subjects?: string[] }): Promise<UsageReport> {
  const a = await analyseWindow(store, source, o);
  return buildUsageReport(a.current, a.analysis, {
    cluster: o.cluster,
    snapshot: a.origin,
    window: a.window,
    ...(o.subjects && o.subjects.length > 0 ? { subjects: o.subjects } : {}),
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
  });
}

export interface Recommendation {
  target: Target;
  proposal: Proposal;
  /** Requests the proposal covers (allowed when observed, not by bindings that stay). */
  covered: Replayed[];
  /** Requests allowed by bindings that stay (groups): the proposal need not cover them. */
  alreadyAllowed: number;
  denied: Replayed[];
  /** Requests with no recorded or inferable decision (a 401, a 429, a RequestReceived alone): granted only with --include-denied. */
  undecided: Replayed[];
  /** Covered requests the apiserver allowed that no binding of the snapshot explains: model drift, covered all the same. */
  unexplained: number;
  /** The target's own bindings: deleted, or the target taken out of them (shared). */
  removedBindings: string[];
  editedBindings: string[];
  /** Rules and verbs of the target's current roles that nothing observed used. */
  unusedInCurrentRoles: string[];
  dryRun: DryRun | null;
  /** Why there is no dry run (no RBAC to replay against). */
  note?: string;
}

type Credit = SubjectActivity['records'][number]['credit'];

/**
 * What a recommendation does with one observed request: `allowed` ones it must keep working
 * (the apiserver allowed them, by annotation or inferred, and RBAC answers for them: a binding
 * allows them, or none in the snapshot explains them); `denied` and `undecided` ones it grants
 * only with --include-denied (audit2rbac's behaviour); null: not RBAC's (system:masters,
 * another authorizer).
 */
function classify(record: UsageRecord, credit: Credit, withSnapshot: boolean): 'allowed' | 'denied' | 'undecided' | null {
  if (credit.kind === 'denied') return 'denied';
  if (credit.kind === 'system:masters' || bypassesRbac(record.attrs.user)) return null;
  if (record.decision === 'unknown') return 'undecided';
  if (!withSnapshot) return 'allowed';
  return credit.kind === 'rbac' || credit.kind === 'unexplained' ? 'allowed' : null;
}

/** The requests of these subjects by what a recommendation does with them, each distinct request once with its count. */
function requestsOf(activity: SubjectActivity[], withSnapshot: boolean) {
  const out = { allowed: new Map<string, Replayed>(), denied: new Map<string, Replayed>(), undecided: new Map<string, Replayed>() };
  const unexplained = new Set<string>();
  for (const s of activity) {
    for (const { record, credit } of s.records) {
      const kind = classify(record, credit, withSnapshot);
      if (!kind) continue;
      const into = out[kind];
      const key = `${s.user.name}\u0000${requestKey(record.attrs)}`;
      if (kind === 'allowed' && withSnapshot && credit.kind === 'unexplained') unexplained.add(key);
      const r = into.get(key);
      if (r) r.count += record.count;
      else into.set(key, { attrs: { ...record.attrs, user: s.user } as RequestAttributes, count: record.count });
    }
  }
  return { allowed: [...out.allowed.values()], denied: [...out.denied.values()], undecided: [...out.undecided.values()], unexplained: unexplained.size };
}

/** The window analysed once for several recommendations; `current` is null without a snapshot. */
export interface Prepared {
  current: Authorizer | null;
  analysis: UsageAnalysis;
}

export async function prepareRecommendations(store: QueryStore, source: StateSource | null, o: WindowOptions): Promise<Prepared> {
  if (source) {
    const a = await analyseWindow(store, source, o);
    return { current: a.current, analysis: a.analysis };
  }
  const none = new Authorizer(emptyState());
  return { current: null, analysis: analyseUsage(none, await readWindow(store, o)) };
}

/** The users and service accounts seen in the window with requests a recommendation would grant: the targets of --all. */
export function observedTargets(p: Prepared, includeDenied = false): Target[] {
  const out: Target[] = [];
  const grants = (kind: ReturnType<typeof classify>) => kind === 'allowed' || (includeDenied && kind !== null);
  for (const s of [...p.analysis.subjects.values()].sort((a, b) => (a.user.name < b.user.name ? -1 : 1))) {
    if (bypassesRbac(s.user) || !s.records.some((r) => grants(classify(r.record, r.credit, p.current !== null)))) continue;
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(s.user.name);
    out.push(sa ? { kind: 'ServiceAccount', namespace: sa[1]!, name: sa[2]! } : { kind: 'User', name: s.user.name });
  }
  return out;
}

/**
 * The recommendation for one target. With a snapshot: what the target's own bindings must
 * allow (what other bindings do not), the bindings to remove, and the dry run against
 * (RBAC − the target's bindings + proposal). Without one: from observed activity alone.
 */
export function recommendFor(
  p: Prepared,
  target: Target,
  options: RecommendOptions & { includeDenied: boolean; proposal?: Proposal } = { ...DEFAULT_RECOMMEND_OPTIONS, includeDenied: false },
): Recommendation {
  const username = targetUsername(target);
  const group = target.kind === 'Group' ? target.name : null;
  const members = [...p.analysis.subjects.values()].filter((s) => (group !== null ? s.user.groups.includes(group) : s.user.name === username));
  const { allowed, denied, undecided, unexplained } = requestsOf(members, p.current !== null);
  // Without a snapshot, every cluster's bootstrap discovery roles are assumed to stay.
  const current = p.current?.state ?? bootstrapDiscoveryState();
  const { state: without, removed, edited } = withoutTarget(current, target);
  const remaining = new Authorizer(without);
  // What other bindings (the target's groups') allow needs nothing new. A group answers only
  // for what its own bindings allow now; a user also for what it was allowed by bindings since gone.
  const now = p.current;
  const need = allowed.filter((r) => !remaining.authorize(r.attrs).allowed && (group === null || !now || now.authorize(r.attrs).allowed));
  const toCover = options.includeDenied ? [...need, ...denied, ...undecided].filter((r) => !remaining.authorize(r.attrs).allowed) : need;
  const proposal = options.proposal ?? recommend(target, toCover.map((r) => r.attrs), options);
  return {
    target,
    proposal,
    covered: need,
    alreadyAllowed: allowed.length - need.length,
    denied,
    undecided,
    unexplained,
    removedBindings: removed,
    editedBindings: edited,
    unusedInCurrentRoles: p.current ? unusedOfTarget(p.analysis, removed.concat(edited), username) : [],
    // Replayed: what the RBAC allows now, and what the proposal was asked to cover.
    dryRun: now ? dryRun(withProposal(without, proposal), allowed.filter((r) => need.includes(r) || now.authorize(r.attrs).allowed)) : null,
    ...(p.current ? {} : { note: 'no RBAC snapshot: the proposal covers the observed activity alone, and there is nothing to replay it against' }),
  };
}

/** The rules of the target's bindings that nothing observed used, and used rules' verbs never seen. */
function unusedOfTarget(analysis: UsageAnalysis, bindingLabels: string[], username: string | null): string[] {
  const out: string[] = [];
  const wanted = new Set(bindingLabels);
  for (const b of analysis.bindings.values()) {
    const label = bindingLabel(b);
    if (!wanted.has(label) || !b.role) continue;
    const role = roleLabel(b);
    b.rules.forEach((rule, i) => {
      const uses = [...b.uses.values()].filter((u) => u.ruleIndex === i && (username === null || u.users.has(username)));
      const describe = describeRule(rule);
      if (uses.length === 0) {
        out.push(`${role} (${label}): rule ${i + 1} "${describe}" was never used: drop it`);
        return;
      }
      const verbs = new Set(uses.flatMap((u) => [...u.requests.values()].filter((r) => username === null || r.attrs.user.name === username).map((r) => r.attrs.verb)));
      const unused = rule.verbs.includes('*') ? [] : rule.verbs.filter((v) => !verbs.has(v));
      if (unused.length > 0) out.push(`${role} (${label}): rule ${i + 1} "${describe}": verbs ${unused.join(',')} never used: drop them`);
    });
  }
  return out;
}

/** Users and service accounts bound in RBAC, with their last request and whether they are stale (PCI DSS 8.2.6). */
export async function staleAccounts(store: QueryStore, source: StateSource, o: { cluster: string; nowMicros: number; idleDays: number }): Promise<{ origin: string; accounts: AccountActivity[] }> {
  const { state, origin } = await resolveState(store, source, o.cluster);
  const history = await store.usage.accountHistory(o.cluster);
  return { origin, accounts: accountActivity({ state, ...history, nowMicros: o.nowMicros, idleDays: o.idleDays }) };
}
