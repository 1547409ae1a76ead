/**
 * `npm run bench:report` (also part of `npm run bench`): how long `kubetrail rbac report` takes
 * over a month of a large cluster, and its peak memory.
 *
 * The store holds BENCH_ACTIONS actions (default 10,000,000) of BENCH_SUBJECTS subjects
 * (default 5,000: a fifth users, the rest service accounts in 200 namespaces) over 30 days,
 * as ingest leaves them in the daily usage rollups (the report reads only the rollups, never
 * the events), and an RBAC snapshot that grants each subject its permissions: a Role per
 * service account, ClusterRoles for users, team groups. Each subject uses part of what it is
 * granted, on about two days in three, with the apiserver's reason naming the binding.
 *
 *   a  baseline: the one query any report must make — the window's rollups summed per
 *      subject and request — read in this process.
 *   b  `kubetrail rbac report --output json`, a child process: the same read, the analysis
 *      (credit, removability, drift), the report, printed.
 *
 * Environment: BENCH_RUNS (default 3), BENCH_ACTIONS, BENCH_SUBJECTS, BENCH_SEED, BENCH_KEEP=1.
 * Prints a table and, last, `BENCH_JSON {...}`. Targets: b ≤ 10 s, peak RSS ≤ 500 MB.
 */
import { systemClock } from '../services/cli/clock.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Authorizer } from '../shared/rbac/authorizer.js';
import { emptyState, RBAC_GROUP, type PolicyRule, type RbacState, type ResourceAttributes, type Subject } from '../shared/rbac/types.js';
import { auditIdToKey } from '../shared/storage/auditId.js';
import { openStore } from '../shared/storage/sqlite/openStore.js';
import { saveSnapshot } from '../shared/storage/sqlite/tables/rbacSnapshots.js';
import { dayOf } from '../shared/storage/sqlite/tables/usageRollups.js';
import { pickRssMethod, startMeasured } from './child.js';
import { Rng } from '../shared/demo/generateEvents.js';
import { envInt, gitRevision, int, median, pad } from './report.js';

const TARGET_SECONDS = 10;
const TARGET_RSS_MB = 500;
const DAYS = 30;
const DAY = 86_400_000_000;
const NAMESPACES = Array.from({ length: 200 }, (_, i) => `ns-${i}`);
const CLUSTER = 'bench';

const rule = (verbs: string[], apiGroup: string, resources: string[], resourceNames: string[] = []): PolicyRule => ({ verbs, apiGroups: [apiGroup], resources, resourceNames, nonResourceURLs: [] });

const CLUSTER_ROLES: [string, PolicyRule[]][] = [
  ['viewer', [rule(['get', 'list', 'watch'], '', ['pods', 'services', 'configmaps', 'events']), rule(['get', 'list', 'watch'], 'apps', ['deployments', 'statefulsets'])]],
  ['operator', [rule(['get', 'list', 'watch', 'update', 'patch'], 'apps', ['deployments', 'deployments/scale']), rule(['get', 'list', 'delete'], '', ['pods']), rule(['get'], '', ['pods/log'])]],
  ['debugger', [rule(['get', 'create'], '', ['pods/exec', 'pods/portforward']), rule(['get', 'list'], '', ['pods'])]],
  ['secret-reader', [rule(['get', 'list', 'watch'], '', ['secrets'])]],
  ['node-reader', [rule(['get', 'list', 'watch'], '', ['nodes', 'namespaces'])]],
];

const SA_RULES: PolicyRule[][] = [
  [rule(['get', 'list', 'watch'], '', ['configmaps', 'services']), rule(['get', 'update'], 'coordination.k8s.io', ['leases'])],
  [rule(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'], '', ['pods', 'configmaps']), rule(['create', 'patch'], '', ['events'])],
  [rule(['get', 'list', 'watch'], 'apps', ['deployments', 'replicasets']), rule(['get', 'list', 'watch'], '', ['secrets'])],
  [rule(['get', 'list', 'watch', 'update'], 'batch', ['jobs', 'cronjobs']), rule(['get'], '', ['secrets'], ['registry-credentials'])],
];

interface Subj {
  name: string;
  groups: string[];
  requests: ResourceAttributes[];
}

/** The RBAC and, per subject, the requests it makes (a part of what it is granted). */
function generate(rng: Rng, subjects: number): { state: RbacState; subjects: Subj[] } {
  const state = emptyState();
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  for (const [name, rules] of CLUSTER_ROLES) state.clusterRoles.push({ name, labels: {}, rules });
  const user = (name: string): Subject => ({ kind: 'User', name, namespace: '', apiGroup: RBAC_GROUP });
  const out: Subj[] = [];
  for (let i = 0; i < subjects; i++) {
    const ns = pick(NAMESPACES);
    if (i % 5 === 0) {
      // A user: cluster-wide roles, a team group with a RoleBinding.
      const name = `user-${i}@example.com`;
      const team = `team-${i % 40}`;
      for (const role of [pick(CLUSTER_ROLES)[0], pick(CLUSTER_ROLES)[0]]) {
        state.clusterRoleBindings.push({ name: `${name}:${role}`, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role }, subjects: [user(name)] });
      }
      out.push({ name, groups: [team, 'system:authenticated'], requests: [] });
    } else {
      const name = `app-${i}`;
      state.serviceAccounts.push({ name, namespace: ns });
      state.roles.push({ name, namespace: ns, labels: {}, rules: pick(SA_RULES) });
      state.roleBindings.push({ name, namespace: ns, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name }, subjects: [{ kind: 'ServiceAccount', name, namespace: ns, apiGroup: '' }] });
      out.push({ name: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], requests: [] });
    }
  }
  for (let t = 0; t < 40; t++) {
    for (const ns of [pick(NAMESPACES), pick(NAMESPACES)]) {
      state.roleBindings.push({ name: `team-${t}-view`, namespace: ns, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'viewer' }, subjects: [{ kind: 'Group', name: `team-${t}`, namespace: '', apiGroup: RBAC_GROUP }] });
    }
  }
  // Each subject uses about half of the (verb, resource) pairs it holds, on a few objects.
  const authz = new Authorizer(state);
  for (const s of out) {
    const user = { name: s.name, groups: s.groups };
    const saNs = /^system:serviceaccount:([^:]+):/.exec(s.name)?.[1];
    for (const g of authz.grantsFor(user, saNs ? [saNs] : [])) {
      for (const r of g.rules) {
        for (const verb of r.verbs) {
          for (const res of r.resources) {
            if (rng.float() < 0.5) continue;
            const [resource, subresource = ''] = res.split('/');
            const namespace = g.binding.namespace || (resource === 'nodes' || resource === 'namespaces' ? '' : saNs ?? pick(NAMESPACES));
            const names = verb === 'get' || verb === 'update' || verb === 'patch' || verb === 'delete' ? [r.resourceNames[0] ?? `obj-${rng.int(1000)}`, r.resourceNames[0] ?? `obj-${rng.int(1000)}`] : [''];
            for (const name of names) s.requests.push({ user, verb, resourceRequest: true, apiGroup: r.apiGroups[0]!, resource: resource!, subresource, namespace, name });
          }
        }
      }
    }
  }
  return { state, subjects: out };
}

/** Writes the rollups of `actions` actions over DAYS days, as ingest would have left them. */
function writeStore(path: string, rng: Rng, actions: number, subjects: number, start: number): { rows: number; state: RbacState } {
  const { state, subjects: subj } = generate(rng, subjects);
  const authz = new Authorizer(state);
  const store = openStore(path, { synchronous: 'NORMAL', clock: systemClock });
  const db = store.db;
  saveSnapshot(db, { cluster: CLUSTER, takenAt: start, source: 'bench', state, summary: { clusterRoles: 0, roles: 0, clusterRoleBindings: 0, roleBindings: 0, serviceAccounts: 0, apiResources: 0, skipped: {}, problems: [], aggregationPending: [] } });
  const str = db.prepare('INSERT OR IGNORE INTO strings (value) VALUES (?)');
  const strId = db.prepare('SELECT id FROM strings WHERE value = ?').pluck();
  const subject = db.prepare('INSERT INTO rbac_subjects (username, groups) VALUES (?, ?)');
  const atom = db.prepare('INSERT OR IGNORE INTO usage_atoms (verb, api_group, resource, subresource, namespace, name, path) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const atomId = db.prepare('SELECT id FROM usage_atoms WHERE verb = ? AND api_group = ? AND resource = ? AND subresource = ? AND namespace = ? AND name = ? AND path = ?').pluck();
  const row = db.prepare(`INSERT INTO usage_daily (day, cluster_id, subject_id, atom_id, decision, reason_id, synthetic, count, first_at, last_at, first_audit, last_audit)
    VALUES (?, ?, ?, ?, 1, ?, 0, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count`);
  const totalRequests = subj.reduce((n, s) => n + s.requests.length, 0);
  // Rows: each request on about two days in three; counts spread so that they sum to `actions`.
  const perRow = actions / (totalRequests * DAYS * (2 / 3));
  let rows = 0;
  db.transaction(() => {
    str.run(CLUSTER);
    const cluster = strId.get(CLUSTER) as number;
    const reasons = new Map<string, number>();
    subj.forEach((s, i) => {
      const sid = Number(subject.run(s.name, JSON.stringify([...s.groups].sort())).lastInsertRowid);
      for (const r of s.requests) {
        const d = authz.authorize(r);
        if (!d.allowed) continue;
        let reason = reasons.get(d.reason);
        if (reason === undefined) {
          str.run(d.reason);
          reasons.set(d.reason, (reason = strId.get(d.reason) as number));
        }
        const params = [r.verb, r.apiGroup, r.resource, r.subresource, r.namespace, r.name, ''];
        atom.run(...params);
        const aid = atomId.get(...params) as number;
        for (let day = 0; day < DAYS; day++) {
          if (rng.float() > 2 / 3) continue;
          const count = Math.max(1, Math.round(perRow * (0.5 + rng.float())));
          const at = start + day * DAY + rng.int(86_400) * 1e6;
          const audit = auditIdToKey(`00000000-0000-4000-8000-${(i * 1_000_000 + rows).toString(16).padStart(12, '0')}`);
          row.run(dayOf(at), cluster, sid, aid, reason, count, at, at, audit, audit);
          rows++;
        }
      }
    });
  }).immediate();
  store.close();
  return { rows, state };
}

async function main(): Promise<void> {
  const runs = envInt('BENCH_RUNS', 3);
  const actions = envInt('BENCH_ACTIONS', 10_000_000);
  const subjects = envInt('BENCH_SUBJECTS', 5_000);
  const seed = envInt('BENCH_SEED', 20261127);
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-bench-report-'));
  const db = join(dir, 'report.db');
  const start = Math.floor(Date.UTC(2026, 9, 1) / 86_400_000) * DAY;
  const t0 = performance.now();
  const { rows } = writeStore(db, new Rng(seed), actions, subjects, start);
  const store = openStore(db, { readonly: true });
  const stored = store.db.prepare('SELECT sum(count) AS actions, count(DISTINCT subject_id) AS subjects FROM usage_daily').get() as { actions: number; subjects: number };
  store.close();
  process.stdout.write(
    `kubetrail rbac report benchmark — ${int(stored.actions)} actions of ${int(stored.subjects)} subjects over ${DAYS} days in ${int(rows)} daily rollup rows, ` +
      `node ${process.version}, revision ${gitRevision() ?? 'unknown'}; store written in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  const since = new Date(start / 1000).toISOString();
  const until = new Date((start + DAYS * DAY) / 1000).toISOString();
  const method = pickRssMethod();
  const perRun: { a: number; b: number; rssMB: number; subjectsReported: number }[] = [];
  for (let run = 0; run < runs; run++) {
    // a: the window's rollups, summed per subject and request, read here.
    const s = openStore(db, { readonly: true });
    const ta = performance.now();
    let n = 0;
    for (const r of s.db
      .prepare(`SELECT u.subject_id, u.atom_id, sum(u.count) FROM usage_daily u JOIN usage_atoms a ON a.id = u.atom_id JOIN rbac_subjects j ON j.id = u.subject_id
        WHERE u.day >= ? AND u.day < ? AND u.cluster_id = (SELECT id FROM strings WHERE value = ?) GROUP BY u.subject_id, u.atom_id, u.decision, u.reason_id, u.synthetic`)
      .raw()
      .iterate(dayOf(start), dayOf(start) + DAYS, CLUSTER)) {
      if (r) n++;
    }
    const a = (performance.now() - ta) / 1000;
    s.close();
    // b: the CLI.
    const tb = performance.now();
    const m = startMeasured(method, ['rbac', 'report', '--db', db, '--cluster', CLUSTER, '--since', since, '--until', until, '--output', 'json'], dir);
    const done = await m.done;
    const b = (performance.now() - tb) / 1000;
    if (done.code !== 0) throw new Error(`rbac report failed (${done.code}): ${done.stderrTail}`);
    const report = JSON.parse(done.stdout) as { subjects: unknown[] };
    perRun.push({ a, b, rssMB: done.peakRssKB / 1024, subjectsReported: report.subjects.length });
    process.stdout.write(`run ${run + 1}/${runs}: a baseline read ${a.toFixed(2)} s (${int(n)} groups)   b rbac report ${b.toFixed(2)} s, peak RSS ${int(done.peakRssKB / 1024)} MB, ${int(report.subjects.length)} subjects reported\n`);
  }
  const med = { a: median(perRun.map((r) => r.a)), b: median(perRun.map((r) => r.b)), rssMB: median(perRun.map((r) => r.rssMB)) };
  const targets = [
    { name: 'b seconds', value: med.b, op: '<=', limit: TARGET_SECONDS, pass: med.b <= TARGET_SECONDS },
    { name: 'b peak RSS MB', value: med.rssMB, op: '<=', limit: TARGET_RSS_MB, pass: med.rssMB <= TARGET_RSS_MB },
  ];
  process.stdout.write(`\nmedian of ${runs}: a ${pad(med.a.toFixed(2), 6)} s   b ${pad(med.b.toFixed(2), 6)} s (b/a ${(med.b / med.a).toFixed(1)})   peak RSS ${int(med.rssMB)} MB\n`);
  for (const t of targets) process.stdout.write(`  ${t.name.padEnd(16)} ${pad(t.value.toFixed(2), 8)}   target ${t.op} ${t.limit}   ${t.pass ? 'PASS' : 'FAIL'}\n`);
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ actions: stored.actions, subjects: stored.subjects, rows, runs, perRun, median: med, targets })}\n`);
  if (process.env.BENCH_KEEP === '1') process.stdout.write(`kept: ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}

await main();
