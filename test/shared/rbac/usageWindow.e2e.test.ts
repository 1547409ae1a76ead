import { systemClock } from '../../../services/cli/clock.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { Authorizer } from '../../../shared/rbac/authorizer.js';
import { loadFiles } from '../../../shared/rbac/loadFiles.js';
import { parseObjects } from '../../../shared/rbac/parseObjects.js';
import type { PolicyRule, RbacState, RequestAttributes, UserAttributes } from '../../../shared/rbac/types.js';
import type { UsageReport } from '../../../shared/rbac/usageReport.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore, type Store } from '../../../shared/storage/sqlite/openStore.js';
import { saveSnapshot, type SnapshotSummary } from '../../../shared/storage/sqlite/tables/rbacSnapshots.js';
import { observedTargets, prepareRecommendations, recommendFor, usageReport, type WindowOptions } from '../../../shared/analysis/usageWindow.js';
import { sqliteQueryStore } from '../../../shared/storage/sqlite/queryStore.js';
import { writeBatches, cliEnv, corpusDir, makeEvent, onEachBackend, openTestStore, parsedEvent, tempDir, TEST_REDACTION_KEY, type TestStore } from '../../helpers.js';

const CLI = join(process.cwd(), 'dist', 'services', 'cli', 'main.js');
const DAY = 86_400e6;
const START = Date.parse('2026-07-01T00:00:00Z') * 1000;

const RBAC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-admin}
rules: [{apiGroups: [""], resources: [secrets], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg-view}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: view}}]}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg-piece, labels: {agg: view}}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-read}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: Group, name: dev, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-agg}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-view}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-secrets, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-admin}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-pods, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: carol-pods, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: ci}
`;

const SUMMARY: SnapshotSummary = { clusterRoles: 0, roles: 0, clusterRoleBindings: 0, roleBindings: 0, serviceAccounts: 0, apiResources: 0, skipped: {}, problems: [], aggregationPending: [] };

function at(day: number): string {
  return new Date((START + day * DAY + 3_600e6) / 1000).toISOString().replace('Z', '000Z');
}

function allow(reason: string) {
  return { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': reason };
}

function store(dir: string, name: string, state: RbacState, events: AuditEvent[]): Store {
  const s = openStore(join(dir, name), { clock: systemClock });
  const parsed = events.map((e) => {
    const r = parseEvent(e, 'test');
    if (!('event' in r)) throw new Error(r.reason);
    return r;
  });
  writeBatches(new EventWriter(s, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'prod', source: 'test', events: parsed, rejected: [] }]);
  saveSnapshot(s.db, { cluster: 'prod', takenAt: START, source: 'test', state, summary: SUMMARY });
  return s;
}

/** Alice's activity over 15 days: through her group, through an aggregated role, with no decision recorded (inferred from its 200), and one the snapshot cannot explain. */
function aliceEvents(): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (let day = 0; day < 15; day++) {
    events.push(
      makeEvent({ requestReceivedTimestamp: at(day), stageTimestamp: at(day), annotations: allow('RBAC: allowed by ClusterRoleBinding "devs-read" of ClusterRole "pod-reader" to Group "dev"') }),
      makeEvent({
        requestReceivedTimestamp: at(day), stageTimestamp: at(day), requestURI: '/api/v1/namespaces/team-a/configmaps/settings',
        objectRef: { resource: 'configmaps', namespace: 'team-a', name: 'settings', apiVersion: 'v1' },
        annotations: allow('RBAC: allowed by ClusterRoleBinding "alice-agg" of ClusterRole "agg-view" to User "alice"'),
      }),
    );
  }
  const when = { requestReceivedTimestamp: at(3), stageTimestamp: at(3) };
  events.push(
    makeEvent({ ...when, verb: 'list', requestURI: '/api/v1/namespaces/team-a/pods', objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' }, annotations: undefined }),
    makeEvent({
      ...when,
      verb: 'delete', requestURI: '/api/v1/namespaces/team-a/services/web', objectRef: { resource: 'services', namespace: 'team-a', name: 'web', apiVersion: 'v1' },
      annotations: allow('RBAC: allowed by RoleBinding "gone/team-a" of Role "editor" to User "alice"'),
    }),
    makeEvent({
      ...when,
      verb: 'get', requestURI: '/api/v1/namespaces/team-a/secrets/db', objectRef: { resource: 'secrets', namespace: 'team-b', name: 'db', apiVersion: 'v1' },
      annotations: { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' },
    }),
  );
  return events;
}

const WINDOW: WindowOptions = { cluster: 'prod', since: START, until: START + 20 * DAY, minDays: 14 };

onEachBackend('RBAC usage analysis: report and recommendations', (db) => {
  const dir = tempDir();
  let s: TestStore;
  let report: UsageReport;

  before(async function () {
    if (!db()) this.skip();
    s = await openTestStore(db(), systemClock);
    await s.write([{ cluster: 'prod', source: 'test', events: aliceEvents().map(parsedEvent), rejected: [] }]);
    await s.query.snapshots.save({ cluster: 'prod', takenAt: START, source: 'test', state: parseObjects(RBAC, 'rbac.yaml').state, summary: SUMMARY });
    report = await usageReport(s.query, { kind: 'snapshot' }, WINDOW);
  });
  after(async () => s?.close());

  const subject = (name: string) => report.subjects.find((x) => x.name === name)!;
  const binding = (who: string, b: string) => subject(who).bindings.find((x) => x.binding === b)!;

  it('credits a group grant to the group binding the apiserver named', async () => {
    const devs = binding('dev', 'ClusterRoleBinding devs-read');
    expect(devs.used).to.equal(true);
    expect(devs.requests).to.equal(16); // 15 gets named in the reason, 1 list found by the evaluator (no reason recorded)
    expect(subject('alice').viaGroups).to.deep.equal([{ binding: 'ClusterRoleBinding devs-read', role: 'ClusterRole pod-reader', via: 'Group "dev"', requests: 16 }]);
  });

  it('credits use to the aggregated role and the rule it took from its parts', async () => {
    const agg = binding('alice', 'ClusterRoleBinding alice-agg');
    expect(agg.used).to.equal(true);
    expect(agg.rules.map((r) => `${r.rule} ${r.count}`)).to.deep.equal(['get configmaps (core) 15']);
    expect(agg.rules[0]!.samples.length).to.be.greaterThan(0);
    expect(agg.rules[0]!.requests).to.deep.equal([{ request: 'get /configmaps/ team-a/settings', count: 15 }]);
  });

  it('calls a binding removable only when no observed request depends on it alone', async () => {
    expect(binding('alice', 'ClusterRoleBinding alice-agg').removable).to.equal(false);
    expect(binding('alice', 'ClusterRoleBinding alice-agg').neededFor).to.equal('get /configmaps/ team-a/settings');
    expect(binding('alice', 'RoleBinding team-a/alice-secrets').removable).to.equal(true);
    // Each of the two that allow alice's pod reads can go while the other stays.
    expect(binding('alice', 'RoleBinding team-a/alice-pods').removable).to.equal(true);
    expect(binding('dev', 'ClusterRoleBinding devs-read').removable).to.equal(true);
  });

  it('ranks dangerous grants that were not used first', async () => {
    expect(report.subjects[0]!.name).to.equal('alice');
    expect(subject('alice').unusedDangerous).to.deep.equal([
      { binding: 'RoleBinding team-a/alice-secrets', role: 'ClusterRole secret-admin', rule: '* secrets (core)', danger: ['wildcard verbs: every future resource and special verb too', 'read secrets: tokens and credentials (list returns their contents)'] },
    ]);
    expect(subject('alice')).to.include({ granted: 3, used: 1, unused: 2, usageRatio: 0.333, judged: true });
  });

  it('names subjects never seen, idle service accounts, and the model drift', async () => {
    expect(report.neverSeen).to.deep.equal([{ kind: 'User', name: 'carol', bindings: ['RoleBinding team-a/carol-pods'] }]);
    expect(subject('carol')).to.include({ active: false, judged: false, unused: 0 });
    expect(report.idleServiceAccounts).to.deep.equal(['system:serviceaccount:ci:builder']);
    expect(report.drift.map((d) => `${d.recorded} | ${d.evaluated} | ${d.example}`)).to.deep.equal([
      'RBAC: allowed by RoleBinding "gone/team-a" of Role "editor" to User "alice" | the snapshot has no such binding | alice: delete /services/ team-a/web',
    ]);
    // The list without annotations answered 200: an allow inferred from the response.
    expect(subject('alice').requests).to.deep.equal({ total: 33, allowed: 32, denied: 1, unknown: 0 });
    // A report of other subjects does not list alice's drift.
    const bob = await usageReport(s.query, { kind: 'snapshot' }, { ...WINDOW, subjects: ['bob'] });
    expect(bob.drift).to.deep.equal([]);
    expect(bob.totals.drift).to.equal(0);
    expect((await usageReport(s.query, { kind: 'snapshot' }, { ...WINDOW, subjects: ['alice'] })).drift).to.have.length(1);
  });

  it('claims nothing unused when the window is shorter than the minimum', async () => {
    const short = await usageReport(s.query, { kind: 'snapshot' }, { ...WINDOW, minDays: 30 });
    expect(short.window).to.include({ sufficient: false, coveredDays: 15 });
    expect(short.window.note).to.match(/15 day\(s\).*minimum of 30/);
    expect(short.subjects.find((x) => x.name === 'alice')).to.include({ judged: false, unused: 0 });
    expect(short.totals.removableBindings).to.equal(0);
  });

  it('recommends only what the bindings that stay do not already allow, and proves it with the dry run', async () => {
    const p = await prepareRecommendations(s.query, { kind: 'snapshot' }, WINDOW);
    const r = recommendFor(p, { kind: 'User', name: 'alice' }, { expandVerbs: false, expandMultiNamespace: false, expandMultiName: false, includeDenied: false });
    expect(r.removedBindings).to.deep.equal(['ClusterRoleBinding alice-agg', 'RoleBinding team-a/alice-pods', 'RoleBinding team-a/alice-secrets']);
    // Pod reads stay allowed through the group: only the configmap and the unexplained delete need a grant.
    expect(r.alreadyAllowed).to.equal(2);
    expect(r.proposal.roles.map((role) => `${role.namespace}: ${role.rules.map((x: PolicyRule) => `${x.verbs} ${x.resources} [${x.resourceNames}]`).join('; ')}`)).to.deep.equal([
      'team-a: get configmaps [settings]; delete services [web]',
    ]);
    expect(r.dryRun).to.include({ regressionCount: 0, requests: 32 });
    expect(r.denied.map((d) => d.count)).to.deep.equal([1]);
    expect(r.unusedInCurrentRoles).to.include('ClusterRole secret-admin (RoleBinding team-a/alice-secrets): rule 1 "* secrets (core)" was never used: drop it');
    expect(observedTargets(p)).to.deep.equal([{ kind: 'User', name: 'alice' }]);
  });

  it('takes resource, group and namespace from the objectRef, and the name from the request URI', async () => {
    const p = await prepareRecommendations(s.query, { kind: 'snapshot' }, WINDOW);
    const r = recommendFor(p, { kind: 'User', name: 'alice' }, { expandVerbs: false, expandMultiNamespace: false, expandMultiName: false, includeDenied: true });
    const teamB = r.proposal.roles.find((x) => x.namespace === 'team-b')!;
    expect(teamB.rules).to.deep.equal([{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['db'], nonResourceURLs: [] }]);
  });

  it('recommends for a group what was allowed through its own bindings', async () => {
    const p = await prepareRecommendations(s.query, { kind: 'snapshot' }, WINDOW);
    const r = recommendFor(p, { kind: 'Group', name: 'dev' }, { expandVerbs: false, expandMultiNamespace: false, expandMultiName: false, includeDenied: false });
    // alice-pods still allows the pod reads in team-a: the group needs nothing more.
    expect(r.removedBindings).to.deep.equal(['ClusterRoleBinding devs-read']);
    expect(r.covered).to.deep.equal([]);
    expect(r.dryRun!.regressionCount).to.equal(0);
  });

  describe('the CLI', () => {
    const cli = (args: string[], cluster = 'prod') => spawnSync(process.execPath, [CLI, 'rbac', ...args, '--db', db(), '--cluster', cluster], { encoding: 'utf8', env: cliEnv() });
    const since = ['--since', at(0).slice(0, 10) + 'T00:00:00Z', '--until', at(20).slice(0, 10) + 'T00:00:00Z'];

    it('report exits 2 and names rbac load when there is no snapshot', async () => {
      const r = cli(['report'], 'staging');
      expect(r.status).to.equal(2);
      expect(r.stderr).to.match(/no RBAC snapshot of cluster 'staging'.*kubetrail rbac load/);
    });

    it('report prints table, markdown, json and yaml of the same report', async () => {
      const json = JSON.parse(cli(['report', ...since, '--output', 'json']).stdout) as UsageReport;
      expect(json.totals).to.include({ drift: 1 });
      const yaml = parseAllDocuments(cli(['report', ...since, '--output', 'yaml']).stdout);
      expect((Array.isArray(yaml) ? yaml : [yaml]).map((d) => (d.toJS() as UsageReport).totals)).to.deep.equal([json.totals]);
      const md = cli(['report', ...since, '--output', 'markdown']).stdout;
      expect(md).to.match(/^# RBAC usage report/).and.match(/\| RoleBinding team-a\/alice-secrets \|/);
      const table = cli(['report', ...since, '--subject', 'alice']);
      expect(table.status).to.equal(0);
      expect(table.stdout).to.match(/alice\s+User\s+yes\s+33/).and.match(/Dangerous permissions granted but unused/);
    });

    it('recommend prints only YAML kubectl applies, with the dry run as comments', async () => {
      const r = cli(['recommend', '--user', 'alice', ...since]);
      expect(r.status).to.equal(0);
      const docs = parseAllDocuments(r.stdout);
      const list = Array.isArray(docs) ? docs : [docs];
      expect(list.map((d) => (d.toJS() as { kind: string }).kind)).to.deep.equal(['Role', 'RoleBinding']);
      for (const line of r.stdout.split('\n')) if (!/^(#|---|\s|$)/.test(line)) expect(line).to.match(/^(apiVersion|kind|metadata|rules|roleRef|subjects):/);
      expect(r.stdout).to.match(/# dry run: 32 observed allowed request\(s\).*: 0 would be denied/);
      expect(r.stdout).to.match(/# remove RoleBinding team-a\/alice-secrets/);
      expect(r.stdout).to.not.match(/\d{4}-\d\d-\d\dT\d\d:\d\d/); // no timestamps: the same window gives the same text
    });

    it('recommend --proposal checks an edited proposal, and --fail-on-regression exits 1 on a regression', async () => {
      const narrow = join(dir, 'narrow.yaml');
      writeFileSync(narrow, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: alice-min, namespace: team-a}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-min, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: alice-min}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
`);
      const r = cli(['recommend', '--user', 'alice', ...since, '--proposal', narrow, '--fail-on-regression']);
      expect(r.status).to.equal(1);
      expect(r.stdout).to.match(/: 16 would be denied/).and.match(/# {3}WOULD BE DENIED \(x15\): alice: get \/configmaps\/ team-a\/settings/);
      expect(cli(['recommend', '--user', 'alice', ...since, '--proposal', narrow]).status).to.equal(0);
    });

    it('rollups --rebuild rebuilds what the report reads', async () => {
      const r = spawnSync(process.execPath, [CLI, 'rbac', 'rollups', '--rebuild', '--db', db()], { encoding: 'utf8', env: cliEnv() });
      expect(r.status).to.equal(0);
      expect(r.stdout).to.match(/rebuilt the usage rollups: 33 actions in \d+ daily rows/);
      expect(JSON.parse(cli(['report', ...since, '--output', 'json']).stdout).subjects).to.deep.equal(JSON.parse(JSON.stringify(report.subjects)));
    });
  });
});

/** Requests that exercise each rule of a role: one per verb and resource, cluster-wide or in `namespace`. */
function requestsFor(user: UserAttributes, rules: readonly PolicyRule[], namespace: string): RequestAttributes[] {
  const out: RequestAttributes[] = [];
  for (const r of rules) {
    if (r.verbs.includes('*') || r.resources.includes('*') || r.apiGroups.includes('*')) continue;
    for (const verb of r.verbs) {
      for (const u of r.nonResourceURLs) if (!u.includes('*')) out.push({ user, verb, resourceRequest: false, path: u });
      for (const res of r.resources) {
        const [resource, subresource = ''] = res.split('/');
        out.push({ user, verb, resourceRequest: true, apiGroup: r.apiGroups[0]!, resource: resource!, subresource, namespace, name: r.resourceNames[0] ?? '' });
      }
    }
  }
  return out;
}

function eventFor(a: RequestAttributes, reason: string, day: number): AuditEvent {
  const user = { username: a.user.name, groups: [...a.user.groups] };
  if (!a.resourceRequest) return makeEvent({ user, verb: a.verb, requestURI: a.path, objectRef: undefined, requestReceivedTimestamp: at(day), stageTimestamp: at(day), annotations: allow(reason) });
  const base = a.apiGroup ? `/apis/${a.apiGroup}/v1` : '/api/v1';
  const path = `${base}${a.namespace ? `/namespaces/${a.namespace}` : ''}/${a.resource}${a.name ? `/${a.name}` : ''}${a.subresource ? `/${a.subresource}` : ''}`;
  return makeEvent({
    user, verb: a.verb, requestURI: path, requestReceivedTimestamp: at(day), stageTimestamp: at(day), annotations: allow(reason),
    objectRef: { resource: a.resource, ...(a.apiGroup ? { apiGroup: a.apiGroup } : {}), apiVersion: 'v1', ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}), ...(a.subresource ? { subresource: a.subresource } : {}) },
  });
}

describe('RBAC usage analysis on the bootstrap corpus with generated controller activity', function () {
  const dir = tempDir();
  let s: Store | undefined;
  let authz: Authorizer;
  const used = new Set<string>();

  before(async function () {
    const corpus = corpusDir(this);
    if (!corpus) return;
    const state = loadFiles([join(corpus, 'rbac', 'bootstrap')]).state;
    authz = new Authorizer(state);
    // Every third controller exercises its role, rule by rule, with the reason the evaluator gives.
    const events: AuditEvent[] = [];
    state.clusterRoleBindings
      .filter((b) => b.name.startsWith('system:controller:'))
      .forEach((b, i) => {
        if (i % 3 !== 0) return;
        const sa = b.subjects[0]!;
        const user = { name: `system:serviceaccount:${sa.namespace}:${sa.name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'] };
        const role = authz.clusterRoles.get(b.roleRef.name)!;
        requestsFor(user, role.rules, '').forEach((a, j) => {
          const d = authz.authorize(a);
          if (!d.allowed || d.via !== 'rbac') return;
          used.add(`ClusterRoleBinding ${d.grant.binding.name}`);
          events.push(eventFor(a, d.reason, j % 15));
        });
      });
    s = store(dir, 'bootstrap.db', state, events);
  });
  after(() => s?.close());

  it('sees no drift, credits every exercised binding, and calls none of them unused', async () => {
    const report = await usageReport(sqliteQueryStore(s!.db), { kind: 'snapshot' }, WINDOW);
    expect(used.size).to.be.greaterThan(5);
    expect(report.drift).to.deep.equal([]);
    const usedInReport = new Set(report.subjects.flatMap((x) => x.bindings.filter((b) => b.used).map((b) => b.binding)));
    for (const b of used) expect(usedInReport.has(b), b).to.equal(true);
    expect(report.window.sufficient).to.equal(true);
  });

  it('recommends for every controller seen a proposal the dry run finds complete', async () => {
    const p = await prepareRecommendations(sqliteQueryStore(s!.db), { kind: 'snapshot' }, WINDOW);
    const targets = observedTargets(p);
    expect(targets.length).to.equal(used.size);
    for (const t of targets) {
      const r = recommendFor(p, t);
      expect(r.dryRun!.regressionCount, JSON.stringify(t)).to.equal(0);
      expect(r.removedBindings.length, JSON.stringify(t)).to.be.greaterThan(0);
      expect(r.proposal.clusterRoles.length + r.proposal.roles.length, JSON.stringify(t)).to.be.greaterThan(0);
    }
  });
});
