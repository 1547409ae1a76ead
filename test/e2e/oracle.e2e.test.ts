import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { expect } from 'chai';
import { Authorizer } from '../../shared/rbac/authorizer.js';
import { loadCluster } from '../../shared/rbac/loadCluster.js';
import type { RequestAttributes } from '../../shared/rbac/types.js';
import { seededRandom, waitFor } from '../helpers.js';
import { requireKubernetes, startCluster, stopCluster, type Cluster } from './harness.js';

/** Requests compared: a few hundred in `npm test`; `npm run test:oracle` asks for 5,000 or more. */
const CASES = Number(process.env.ORACLE_CASES ?? 400);
const PER_ROUND = 400;

/**
 * A denial's reason with its errors in a fixed order: the apiserver walks its informer cache,
 * effectively unordered, so several errors (roles not found) come in any order (spec/rbac.md §3).
 */
function errorSet(reason: string): string {
  const m = /^RBAC: \[(.*)\]$/.exec(reason);
  return m ? `RBAC: [${m[1]!.split(', ').sort().join(', ')}]` : reason;
}

const NAMESPACES = ['oracle-a', 'oracle-b'];
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'escalate', 'bind', 'impersonate'];
const GROUPS = ['', 'apps', 'rbac.authorization.k8s.io', 'example.com'];
const RESOURCES = ['pods', 'pods/log', 'pods/exec', 'secrets', 'configmaps', 'deployments', 'deployments/scale', 'roles', 'widgets', 'nodes'];
const RULE_RESOURCES = [...RESOURCES, '*', '*/scale', 'pods/*'];
const URLS = ['/healthz', '/healthz/etcd', '/metrics', '/apis', '/apis/apps', '/logs/x', '/version'];
const RULE_URLS = [...URLS, '/healthz*', '/apis/*', '*', '/logs*'];
const USERS = ['ora-ann', 'ora-ben', 'ora-cid'];
const USER_GROUPS = ['ora-devs', 'ora-ops', 'ora-audit'];
const SAS = [['oracle-a', 'bot'], ['oracle-b', 'bot'], ['oracle-b', 'ci']] as const;

/**
 * The differential RBAC oracle: random RBAC objects created in a real cluster, random requests
 * judged by kubetrail's evaluator (on the snapshot the live loader takes) and by the
 * apiserver's SubjectAccessReview. Zero mismatches; a mismatch prints its case and seed.
 */
describe('end to end: RBAC oracle, kubetrail against SubjectAccessReview on random RBAC', function () {
  this.timeout(30 * 60_000);
  let cluster: Cluster | undefined;
  let clusterDir = '';
  let apiserver = '';
  let ca: Buffer;
  let cert: Buffer;
  let key: Buffer;

  before(function () {
    requireKubernetes(this);
    // No kubetrail under test here: the webhook points nowhere that answers, and the apiserver carries on.
    cluster = startCluster('http://127.0.0.1:9/audit/webhook/oracle');
    clusterDir = cluster.dir;
    apiserver = cluster.apiserver;
    [ca, cert, key] = ['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFileSync(join(clusterDir, f))) as [Buffer, Buffer, Buffer];
  });

  after(() => {
    stopCluster(cluster);
  });

  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> =>
    new Promise((done, fail) => {
      const req = request(new URL(path, apiserver), { method, ca, cert, key, headers: { Accept: 'application/json', 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', fail);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });

  it(`agrees with the apiserver on ${CASES} random requests over random RBAC, zero mismatches`, async () => {
    for (const ns of NAMESPACES) await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const seed = Number(process.env.ORACLE_SEED ?? 20261127);
    const random = seededRandom(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const some = <T>(xs: readonly T[], max = 3): T[] => [...new Set(Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(xs)))];
    const resourceRule = () => ({
      apiGroups: random() < 0.2 ? ['*'] : some(GROUPS, 2),
      resources: some(RULE_RESOURCES),
      verbs: random() < 0.15 ? ['*'] : some(VERBS),
      ...(random() < 0.2 ? { resourceNames: some(['a', 'b'], 2) } : {}),
    });
    const urlRule = () => ({ nonResourceURLs: some(RULE_URLS, 2), verbs: random() < 0.2 ? ['*'] : some(['get', 'post'], 2) });
    const subject = (inRoleBinding: boolean) => {
      const x = random();
      if (x < 0.35) return { kind: 'User', name: pick(USERS), apiGroup: 'rbac.authorization.k8s.io' };
      if (x < 0.7) return { kind: 'Group', name: pick([...USER_GROUPS, 'system:serviceaccounts', 'system:serviceaccounts:oracle-b', 'system:authenticated']), apiGroup: 'rbac.authorization.k8s.io' };
      const [ns, name] = pick(SAS);
      return inRoleBinding && random() < 0.5 ? { kind: 'ServiceAccount', name } : { kind: 'ServiceAccount', name, namespace: ns };
    };

    const mismatches: string[] = [];
    let compared = 0;
    let allowed = 0;
    for (let round = 0; compared < CASES; round++) {
      const p = `ora${round}`;
      // ClusterRoles (some labelled into an aggregated one), Roles, and bindings of every kind.
      const objects: [string, Record<string, unknown>][] = [];
      for (let i = 0; i < 6; i++) {
        const labels = random() < 0.4 ? { 'oracle.example.com/aggregate': p } : {};
        const rules = Array.from({ length: 1 + Math.floor(random() * 3) }, () => (random() < 0.2 ? urlRule() : resourceRule()));
        objects.push(['/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${p}-cr${i}`, labels }, rules }]);
      }
      objects.push(['/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${p}-agg` }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'oracle.example.com/aggregate': p } }] } }]);
      for (const ns of NAMESPACES) {
        objects.push([`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: `${p}-role`, namespace: ns }, rules: [resourceRule(), resourceRule()] }]);
      }
      const roleRefs = [...Array.from({ length: 6 }, (_, i) => ({ kind: 'ClusterRole', name: `${p}-cr${i}` })), { kind: 'ClusterRole', name: `${p}-agg` }, { kind: 'ClusterRole', name: `${p}-missing` }];
      for (let i = 0; i < 3; i++) {
        objects.push(['/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${p}-crb${i}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...pick(roleRefs) }, subjects: [subject(false), subject(false)] }]);
      }
      for (let i = 0; i < 4; i++) {
        const ns = pick(NAMESPACES);
        const ref = random() < 0.4 ? { kind: 'Role', name: `${p}-role` } : pick(roleRefs);
        objects.push([`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `${p}-rb${i}`, namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...ref }, subjects: [subject(true), subject(true)] }]);
      }
      for (const [path, body] of objects) {
        const r = await call('POST', path, body);
        if (r.status !== 201) throw new Error(`creating ${JSON.stringify(body)}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
      }

      // Ask only once the aggregation controller has converged, as kubetrail evaluates it.
      let authz: Authorizer | undefined;
      await waitFor(async () => {
        const live = await loadCluster({ kubeconfig: join(clusterDir, 'admin.kubeconfig') });
        authz = new Authorizer(live.state);
        return authz.aggregationPending.length === 0;
      }, `the aggregation controller to fill ${p}-agg`, 60_000);

      for (let i = 0; i < PER_ROUND && compared < CASES; i++) {
        const who = random();
        let user: { name: string; groups: string[] };
        if (who < 0.7) user = { name: pick(USERS), groups: [...some(USER_GROUPS, 2), 'system:authenticated'] };
        else {
          const [ns, name] = pick(SAS);
          user = { name: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] };
        }
        let attrs: RequestAttributes;
        let spec: Record<string, unknown>;
        if (random() < 0.15) {
          const path = pick(URLS);
          const verb = pick(['get', 'post', 'put']);
          attrs = { user, verb, resourceRequest: false, path };
          spec = { user: user.name, groups: user.groups, nonResourceAttributes: { path, verb } };
        } else {
          const [resource, subresource = ''] = pick(RESOURCES).split('/') as [string, string?];
          const apiGroup = pick(GROUPS);
          const namespace = pick([...NAMESPACES, '']);
          const name = pick(['', 'a', 'c']);
          const verb = pick(VERBS);
          attrs = { user, verb, resourceRequest: true, apiGroup, resource, subresource, namespace, name };
          spec = { user: user.name, groups: user.groups, resourceAttributes: { namespace, verb, group: apiGroup, resource, subresource, name } };
        }
        const sar = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
        const status = (JSON.parse(sar.body) as { status: { allowed: boolean; reason?: string } }).status;
        const ours = authz!.authorize(attrs);
        compared++;
        if (status.allowed) allowed++;
        if (ours.allowed !== status.allowed) mismatches.push(`seed ${seed} round ${round}: ${JSON.stringify(spec)}: apiserver ${status.allowed} (${status.reason ?? ''}), kubetrail ${ours.allowed} (${ours.reason})`);
        else if (!ours.allowed && errorSet(status.reason ?? '') !== errorSet(ours.reason)) mismatches.push(`seed ${seed} round ${round}: ${JSON.stringify(spec)}: reason '${status.reason ?? ''}' vs '${ours.reason}'`);
      }
    }
    // eslint-disable-next-line no-console
    console.log(`      oracle: ${compared} requests compared, ${allowed} allowed by the apiserver, ${mismatches.length} mismatches`);
    expect(mismatches.slice(0, 20), `${mismatches.length} of ${compared} differ`).to.deep.equal([]);
    expect(allowed, 'the random RBAC must allow a fair share, or the oracle tests little').to.be.greaterThan(compared / 20);
  });
});
