/**
 * What kubetrail cannot see in a cluster: every rule and report depends on what the cluster's
 * audit policy records (spec/k8s-audit.md §4), and managed providers decide part of it (§9).
 * From counts over the stored events of a window (CoverageStats, read by the store), each
 * detection and report is working, degraded (with why) or blind, with what to change.
 */

/** Counts over one cluster's stored events in a window (one row per stored stage). */
export interface CoverageStats {
  events: number;
  /** By audit level: None, Metadata, Request, RequestResponse. */
  levels: [none: number, metadata: number, request: number, requestResponse: number];
  /** get, list and watch. */
  reads: number;
  /** create, update and patch. */
  writes: number;
  writesWithBody: number;
  /** Writes of pods and the workloads that make them (their specs are what privileged-workload reads). */
  workloadWrites: number;
  workloadWritesWithBody: number;
  /** Writes of RBAC objects. */
  rbacWrites: number;
  rbacWritesWithBody: number;
  /** Events with the apiserver's authorization reason annotation. */
  withReason: number;
  /** Distinct users acting, and how many of them carry groups. */
  users: number;
  usersWithGroups: number;
}

export type CoverageState = 'working' | 'degraded' | 'blind';

export interface CoverageItem {
  /** A detection's id, or a report. */
  name: string;
  kind: 'detection' | 'report';
  state: CoverageState;
  /** Why it is degraded or blind (empty when working). */
  why: string[];
  /** What to change in the audit policy or the provider's settings. */
  fix: string | null;
}

const BODIES_FIX = 'record request bodies of these writes: a Policy rule at level Request for them (deploy/audit-policy.yaml does); managed providers record them in their own policy';
const READS_FIX = 'record get, list and watch: AKS: the kube-audit category, not only kube-audit-admin; GKE: enable Data Access audit logs; self-managed: a Policy rule at level Metadata for reads';

/** Detections that need only who did what (Metadata level). */
const METADATA_DETECTIONS = [
  'non-rbac-allow', 'break-glass-use', 'anonymous-allowed', 'anonymous-scanning', 'default-serviceaccount-use', 'non-revocable-credential', 'legacy-sa-token',
  'impersonation', 'pod-exec-attach-portforward', 'token-request', 'csr-approval', 'admission-webhook-change', 'forbidden-burst',
  'system-namespace-workload', 'exec-suspicious-command', 'exec-kube-system', 'permission-enumeration', 'aws-auth-change', 'coredns-config-change',
  'events-deleted', 'kube-system-serviceaccount', 'rbac-write-by-serviceaccount', 'csr-creation', 'deny-address', 'system-identity-public-address',
];
/** Detections of reads: blind where reads are not recorded. */
const READ_DETECTIONS = ['secret-read', 'secret-list-broad', 'secret-read-burst', 'secret-read-generic-client', 'resource-sweep', 'rbac-change-then-use'];
/** Detections that read pod specs in request bodies. */
const WORKLOAD_BODY_DETECTIONS = ['privileged-workload', 'untrusted-image-registry', 'workload-container-patch'];

/** Each detection and report of the window, judged from its counts. */
export function evaluateCoverage(s: CoverageStats): CoverageItem[] {
  const items: CoverageItem[] = [];
  const add = (name: string, kind: CoverageItem['kind'], why: string[], blind: boolean, fix: string | null) =>
    items.push({ name, kind, state: why.length === 0 ? 'working' : blind ? 'blind' : 'degraded', why, fix: why.length === 0 ? null : fix });
  if (s.events === 0) {
    for (const name of ['system-masters-use', ...METADATA_DETECTIONS, ...READ_DETECTIONS, 'rbac-escalation', ...WORKLOAD_BODY_DETECTIONS, 'exposed-service']) add(name, 'detection', ['no events stored in the window'], true, 'send events: see kubetrail status and the pipeline gaps');
    for (const name of ['rbac report', 'rbac recommend', 'rbac stale']) add(name, 'report', ['no events stored in the window'], true, 'send events: see kubetrail status and the pipeline gaps');
    return items;
  }
  const noGroups = s.users > 0 && s.usersWithGroups === 0;
  add('system-masters-use', 'detection', noGroups ? ['no user in the window carries groups (GKE records none): membership of system:masters cannot be seen'] : [], true, 'GKE: none (its audit log has no groups); elsewhere the apiserver records them');
  for (const name of METADATA_DETECTIONS) add(name, 'detection', [], false, null);
  const noReads = s.reads === 0 && s.writes > 0;
  // The sequence rule also sees workload writes: degraded, not blind, without reads.
  for (const name of READ_DETECTIONS) add(name, 'detection', noReads ? ['reads are not recorded for this cluster (no get, list or watch in the window)'] : [], name !== 'rbac-change-then-use', READS_FIX);
  const bodies = (what: string, writes: number, withBody: number): string[] =>
    writes === 0 ? [`no ${what} in the window: cannot tell whether their bodies are recorded`] : withBody === 0 ? [`${what} are recorded without their request bodies (level Metadata)`] : withBody < writes ? [`${writes - withBody} of ${writes} ${what} without their request bodies`] : [];
  const rbac = bodies('RBAC writes', s.rbacWrites, s.rbacWritesWithBody);
  add('rbac-escalation', 'detection', rbac, s.rbacWrites > 0 && s.rbacWritesWithBody === 0, BODIES_FIX);
  const workloads = bodies('pod and workload writes', s.workloadWrites, s.workloadWritesWithBody);
  for (const name of WORKLOAD_BODY_DETECTIONS) add(name, 'detection', workloads, s.workloadWrites > 0 && s.workloadWritesWithBody === 0, BODIES_FIX);
  add('exposed-service', 'detection', bodies('writes', s.writes, s.writesWithBody), s.writes > 0 && s.writesWithBody === 0, BODIES_FIX);
  const usage: string[] = [];
  if (noReads) usage.push('reads are not recorded for this cluster: unused read permissions cannot be judged');
  if (s.withReason === 0) usage.push('no authorization reasons recorded: use is credited to bindings by kubetrail\'s own evaluation of the snapshot');
  if (noGroups) usage.push('no groups recorded: grants through group bindings are credited by the reason annotation only');
  const usageFix = noReads ? READS_FIX : s.withReason === 0 ? 'record the authorization annotations (any level above None records them)' : 'GKE: none (its audit log has no groups; Google Groups for RBAC are named in the reasons)';
  add('rbac report', 'report', usage, false, usageFix);
  add('rbac recommend', 'report', noReads ? ['reads are not recorded for this cluster: a recommendation grants no reads'] : [], false, READS_FIX);
  add('rbac stale', 'report', noReads ? ['reads are not recorded for this cluster: an account that only reads looks idle'] : [], false, READS_FIX);
  return items;
}

/** The degradations of the reports that read usage, as the lines their headers print. */
export function usageDegradations(items: readonly CoverageItem[], report: 'rbac report' | 'rbac recommend'): string[] {
  return items.find((i) => i.name === report)?.why ?? [];
}
