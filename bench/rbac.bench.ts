/**
 * `npm run bench:rbac` (also part of `npm run bench`): RBAC decisions per second on one core,
 * over the bootstrap corpus (../shared/corpus/rbac/bootstrap, when present) plus generated
 * RBAC — BENCH_BINDINGS bindings (default 1,000) over BENCH_SUBJECTS subjects (default
 * 10,000) in 50 namespaces — and random requests by those subjects.
 *
 *   a  baseline: the apiserver's own walk — every ClusterRoleBinding, then every RoleBinding
 *      of the namespace, each subject checked — as a plain scan without an index.
 *   b  kubetrail's Authorizer: bindings indexed by subject (the same decisions, checked).
 *
 * Environment: BENCH_RUNS (default 5), BENCH_DECISIONS per run (default 1,000,000), BENCH_SEED.
 * Prints a table and, last, `BENCH_JSON {...}`. Target: b ≥ 500,000 decisions/s.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Authorizer, appliesTo } from '../shared/rbac/authorizer.js';
import { loadFiles } from '../shared/rbac/loadFiles.js';
import { ruleAllows } from '../shared/rbac/ruleAllows.js';
import { emptyState, MASTERS, type PolicyRule, type RbacState, type RequestAttributes, type RoleRef, type Subject } from '../shared/rbac/types.js';
import { Rng } from '../shared/demo/generateEvents.js';
import { envInt, gitRevision, int, median, pad } from './report.js';

const TARGET = 500_000;
const NAMESPACES = Array.from({ length: 50 }, (_, i) => `team-${i}`);
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
const RESOURCES: [string, string][] = [['', 'pods'], ['', 'configmaps'], ['', 'secrets'], ['', 'services'], ['apps', 'deployments'], ['apps', 'statefulsets'], ['batch', 'jobs'], ['networking.k8s.io', 'ingresses']];

interface Workload {
  state: RbacState;
  requests: RequestAttributes[];
  corpus: boolean;
}

function generate(rng: Rng, bindings: number, subjects: number, decisions: number): Workload {
  const corpusDir = fileURLToPath(new URL('../../../shared/corpus/rbac/bootstrap', import.meta.url));
  const corpus = existsSync(corpusDir);
  const state = corpus ? loadFiles([corpusDir]).state : emptyState();
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const rule = (): PolicyRule => {
    const [apiGroup, resource] = pick(RESOURCES);
    return { verbs: [pick(VERBS), pick(VERBS)], apiGroups: [apiGroup], resources: [resource], resourceNames: [], nonResourceURLs: [] };
  };
  for (let r = 0; r < 100; r++) state.clusterRoles.push({ name: `gen-role-${r}`, labels: {}, rules: [rule(), rule(), rule()] });
  const users = Array.from({ length: subjects * 0.7 }, (_, i) => `user-${i}@example.com`);
  const groups = Array.from({ length: subjects * 0.1 }, (_, i) => `group-${i}`);
  const sas = Array.from({ length: subjects * 0.2 }, (_, i) => ({ namespace: pick(NAMESPACES), name: `sa-${i}` }));
  const subject = (): Subject => {
    const x = rng.float();
    if (x < 0.6) return { kind: 'User', name: pick(users), namespace: '', apiGroup: 'rbac.authorization.k8s.io' };
    if (x < 0.8) return { kind: 'Group', name: pick(groups), namespace: '', apiGroup: 'rbac.authorization.k8s.io' };
    const sa = pick(sas);
    return { kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace, apiGroup: '' };
  };
  for (let b = 0; b < bindings; b++) {
    const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `gen-role-${rng.int(100)}` };
    const subs = Array.from({ length: 1 + rng.int(10) }, subject);
    if (b % 10 === 0) state.clusterRoleBindings.push({ name: `gen-crb-${b}`, roleRef, subjects: subs });
    else state.roleBindings.push({ name: `gen-rb-${b}`, namespace: pick(NAMESPACES), roleRef, subjects: subs });
  }
  const requests: RequestAttributes[] = [];
  const pool = Math.min(decisions, 100_000);
  for (let i = 0; i < pool; i++) {
    const x = rng.float();
    const name = x < 0.6 ? pick(users) : x < 0.9 ? (() => { const sa = pick(sas); return `system:serviceaccount:${sa.namespace}:${sa.name}`; })() : 'system:kube-scheduler';
    const userGroups = [pick(groups), pick(groups), 'system:authenticated'];
    if (name.startsWith('system:serviceaccount:')) userGroups.push('system:serviceaccounts', `system:serviceaccounts:${name.split(':')[2]}`);
    const [apiGroup, resource] = pick(RESOURCES);
    requests.push({ user: { name, groups: userGroups }, verb: pick(VERBS), resourceRequest: true, apiGroup, resource, subresource: '', namespace: pick(NAMESPACES), name: rng.float() < 0.5 ? '' : `obj-${rng.int(100)}` });
  }
  return { state, requests, corpus };
}

/** The baseline: the apiserver's walk over every binding, without an index. */
function scanAllows(authz: Authorizer, state: RbacState, byNamespace: Map<string, RbacState['roleBindings']>, attrs: RequestAttributes): boolean {
  if (attrs.user.groups.includes(MASTERS)) return true;
  const check = (subjects: Subject[], roleRef: RoleRef, ns: string) => {
    if (!subjects.some((s) => appliesTo(s, attrs.user, ns))) return false;
    const role = authz.resolve(roleRef, ns);
    return !('error' in role) && role.rules.some((r) => ruleAllows(attrs, r));
  };
  for (const b of state.clusterRoleBindings) if (check(b.subjects, b.roleRef, '')) return true;
  const ns = attrs.resourceRequest ? attrs.namespace : '';
  if (ns) for (const b of byNamespace.get(ns) ?? []) if (check(b.subjects, b.roleRef, ns)) return true;
  return false;
}

function main(): void {
  const runs = envInt('BENCH_RUNS', 5);
  const decisions = envInt('BENCH_DECISIONS', 1_000_000);
  const bindings = envInt('BENCH_BINDINGS', 1_000);
  const subjects = envInt('BENCH_SUBJECTS', 10_000);
  const seed = envInt('BENCH_SEED', 20261127);
  const w = generate(new Rng(seed), bindings, subjects, decisions);
  const authz = new Authorizer(w.state);
  const byNamespace = new Map<string, RbacState['roleBindings']>();
  for (const b of w.state.roleBindings) byNamespace.set(b.namespace, [...(byNamespace.get(b.namespace) ?? []), b]);

  // Both answer the same: checked on the whole request pool before anything is timed.
  let allowed = 0;
  for (const r of w.requests) {
    const d = authz.authorize(r).allowed;
    if (d !== scanAllows(authz, w.state, byNamespace, r)) throw new Error(`the index and the scan disagree on ${JSON.stringify(r)}`);
    if (d) allowed++;
  }
  const s = w.state;
  console.log(`kubetrail RBAC benchmark — ${runs} runs of ${int(decisions)} decisions, node ${process.version}, one core`);
  console.log(
    `state: ${w.corpus ? 'bootstrap corpus + ' : '(no corpus at ../shared/corpus) '}${int(bindings)} generated bindings over ${int(subjects)} subjects: ` +
      `${s.clusterRoles.length} ClusterRoles, ${s.clusterRoleBindings.length} ClusterRoleBindings, ${s.roleBindings.length} RoleBindings in ${NAMESPACES.length} namespaces`,
  );
  console.log(`requests: ${int(w.requests.length)} distinct, ${((100 * allowed) / w.requests.length).toFixed(1)}% allowed; revision ${gitRevision() ?? 'unknown'}`);

  const time = (decide: (r: RequestAttributes) => boolean): number => {
    let sink = 0;
    const start = performance.now();
    for (let i = 0; i < decisions; i++) if (decide(w.requests[i % w.requests.length]!)) sink++;
    const seconds = (performance.now() - start) / 1000;
    if (sink < 0) console.log(sink);
    return decisions / seconds;
  };
  const a: number[] = [];
  const b: number[] = [];
  for (let run = 1; run <= runs; run++) {
    a.push(time((r) => scanAllows(authz, w.state, byNamespace, r)));
    b.push(time((r) => authz.authorize(r).allowed));
    console.log(`  run ${run}: a scan ${pad(int(a.at(-1)!), 11)} /s   b kubetrail ${pad(int(b.at(-1)!), 11)} /s   b/a ${(b.at(-1)! / a.at(-1)!).toFixed(1)}`);
  }
  const med = { a: median(a), b: median(b), ratio: median(b.map((x, i) => x / a[i]!)) };
  console.log(`\nmedian over ${runs} runs`);
  console.log(`  a scan every binding   ${pad(int(med.a), 11)} decisions/s`);
  console.log(`  b kubetrail (indexed)  ${pad(int(med.b), 11)} decisions/s   b/a ${med.ratio.toFixed(1)}   target b >= ${int(TARGET)}   ${med.b >= TARGET ? 'PASS' : 'FAIL'}`);
  console.log(`BENCH_JSON ${JSON.stringify({ runs, decisions, bindings, subjects, corpus: w.corpus, seed, node: process.version, revision: gitRevision(), perRun: { a, b }, median: med, target: TARGET, pass: med.b >= TARGET })}`);
}

main();
