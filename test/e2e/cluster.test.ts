import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { CLI, cliEnv, startServe, tempDir, waitFor } from '../helpers.js';

const K8S_BIN = join(process.env.KUBETRAIL_CACHE ?? join(homedir(), '.cache', 'kubetrail'), 'k8s-1.34.4', 'bin');
const CLUSTER_SH = resolve(process.cwd(), 'test', 'e2e', 'cluster', 'cluster.sh');

interface Answer {
  status: number;
  body: string;
}

/** Who calls the apiserver: nobody (anonymous), a client certificate, or a bearer token. */
type Caller = { anonymous: true } | { cert: string; key: string } | { token: string };

/**
 * kubetrail against a real kube-apiserver: the apiserver's audit webhook feeds a kubetrail
 * serve, requests are made as real clients, and what kubetrail stored and flagged is checked
 * against what the apiserver wrote (its log backend's copy of each event).
 */
describe('end to end: a real kube-apiserver feeding kubetrail', function () {
  this.timeout(300_000);
  const dir = tempDir();
  const db = join(dir, 'e2e.db');
  let serve: ChildProcess | undefined;
  let clusterDir = '';
  let apiserver = '';
  let ca: Buffer;

  before(async function () {
    if (!existsSync(join(K8S_BIN, 'kube-apiserver'))) {
      if (process.env.CI === 'true') throw new Error(`CI=true but ${K8S_BIN} has no kube-apiserver: .ci/run must run test/infra/k8s/build.sh`);
      // eslint-disable-next-line no-console
      console.log(`    (skipped: no kube-apiserver in ${K8S_BIN}; run \`bash test/infra/k8s/build.sh\` once, 15-20 minutes)`);
      this.skip();
    }
    const started = await startServe(['--db', db, '--services', 'ingest,alerter']);
    serve = started.child;
    const r = spawnSync('bash', [CLUSTER_SH, 'start', `${started.url}/audit/webhook/e2e`], { encoding: 'utf8' });
    const m = /KUBETRAIL_E2E_DIR=(\S+)/.exec(r.stdout);
    if (r.status !== 0 || !m) throw new Error(`cluster.sh start failed (${r.status}): ${r.stderr.slice(-2000)}`);
    clusterDir = m[1]!;
    apiserver = /APISERVER_URL=(\S+)/.exec(readFileSync(join(clusterDir, 'env'), 'utf8'))![1]!;
    ca = readFileSync(join(clusterDir, 'ca.crt'));
  });

  after(() => {
    if (clusterDir) spawnSync('bash', [CLUSTER_SH, 'stop', clusterDir]);
    serve?.kill('SIGTERM');
  });

  const call = (caller: Caller, method: string, path: string, body?: unknown): Promise<Answer> =>
    new Promise((done, fail) => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if ('token' in caller) headers.Authorization = `Bearer ${caller.token}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const req = request(new URL(path, apiserver), {
        method,
        ca,
        headers,
        ...('cert' in caller ? { cert: readFileSync(caller.cert), key: readFileSync(caller.key) } : {}),
      }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', fail);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const admin = (): Caller => ({ cert: join(clusterDir, 'admin.crt'), key: join(clusterDir, 'admin.key') });

  /** The stored actions of a user (kubetrail events), once they have arrived. */
  const eventsOf = async (user: string, where: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>[]> => {
    let found: Record<string, unknown>[] = [];
    await waitFor(() => {
      const r = spawnSync(process.execPath, [CLI, 'events', '--db', db, '--cluster', 'e2e', '--user', user, '--limit', '0', '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
      found = r.status === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>[]).filter(where) : [];
      return found.length > 0;
    }, `kubetrail to store ${user}'s request`, 30_000);
    return found;
  };

  /** The apiserver's own copy of an event (its log backend), by auditID. */
  const logged = (auditID: string): Record<string, unknown> => {
    const line = readFileSync(join(clusterDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.auditID === auditID)
      .pop();
    if (!line) throw new Error(`auditID ${auditID} is not in the apiserver's audit log`);
    return line;
  };

  // The shipped audit policy drops health probes (/healthz, /livez, /readyz): /version is the
  // public endpoint anonymous requests are allowed and audited on.
  it('records anonymous requests: a public endpoint allowed, a resource read denied', async () => {
    expect((await call({ anonymous: true }, 'GET', '/version')).status).to.equal(200);
    expect((await call({ anonymous: true }, 'GET', '/api/v1/namespaces/default/secrets')).status).to.equal(403);
    const events = await eventsOf('system:anonymous', () => true);
    const health = events.find((e) => e.requestURI === '/version');
    const secrets = events.find((e) => e.resource === 'secrets');
    expect(health).to.include({ decision: 'allow', actorKind: 'anonymous', code: 200 });
    expect(secrets).to.include({ decision: 'forbid', actorKind: 'anonymous', code: 403, namespace: 'default' });
    const annotations = logged(secrets!.auditID as string).annotations as Record<string, string>;
    expect(secrets!.reason).to.equal(annotations['authorization.k8s.io/reason'] ?? null);
  });

  it('flags the system:masters certificate creating a namespace: masters use and unattributed break-glass use', async () => {
    const r = await call(admin(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-team' } });
    expect(r.status, r.body).to.equal(201);
    const [created] = await eventsOf('e2e-admin', (e) => e.verb === 'create' && e.resource === 'namespaces');
    expect(created).to.include({ decision: 'allow', name: 'e2e-team' });
    expect(created!.credential).to.match(/^client-certificate X509SHA256=[0-9a-f]{64}$/);
    await waitFor(() => {
      const out = spawnSync(process.execPath, [CLI, 'alerts', '--db', db, '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
      const rules = (JSON.parse(out.stdout || '[]') as { rule: string }[]).map((a) => a.rule);
      return rules.includes('system-masters-use') && rules.includes('unattributed-break-glass');
    }, 'the masters and unattributed break-glass alerts', 30_000);
  });

  it('raises no escalation alert for the control plane doing its job (bootstrap roles, aggregation)', async () => {
    // Those writes did reach kubetrail: the apiserver's own creation of the cluster-admin binding.
    const bootstrap = await eventsOf('system:apiserver', (e) => e.verb === 'create' && e.resource === 'clusterrolebindings' && e.name === 'cluster-admin');
    expect(bootstrap[0]).to.include({ actorKind: 'control-plane', decision: 'allow' });
    const out = spawnSync(process.execPath, [CLI, 'alerts', '--db', db, '--rule', 'rbac-escalation', '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
    expect(out.status, out.stderr).to.equal(0);
    expect((JSON.parse(out.stdout) as { actor: string }[]).map((a) => a.actor)).to.deep.equal([]);
  });

  it('decides as the apiserver: our evaluator against SubjectAccessReview on a matrix of requests', async () => {
    const rbacObjects = [
      ['/apis/rbac.authorization.k8s.io/v1/namespaces/e2e-team/roles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: 'e2e-team' }, rules: [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }, { apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'], verbs: ['get'] }] }],
      ['/apis/rbac.authorization.k8s.io/v1/namespaces/e2e-team/rolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dev-team-reads', namespace: 'e2e-team' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' }, subjects: [{ kind: 'Group', name: 'dev-team', apiGroup: 'rbac.authorization.k8s.io' }] }],
      ['/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'e2e-widgets-view', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get', 'list'] }] }],
      ['/apis/rbac.authorization.k8s.io/v1/namespaces/e2e-team/rolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bob-views', namespace: 'e2e-team' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }, { kind: 'ServiceAccount', name: 'default' }] }],
      ['/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'ghost-binding' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'does-not-exist' }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }] }],
    ] as const;
    for (const [path, body] of rbacObjects) {
      const r = await call(admin(), 'POST', path, body);
      expect([201, 409], r.body).to.include(r.status);
    }
    // The aggregation controller fills view with the new role's rules: wait for the converged state.
    await waitFor(async () => (await call(admin(), 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/view')).body.includes('widgets'), 'view to aggregate e2e-widgets-view', 60_000);

    const { loadCluster } = await import('../../shared/rbac/loadCluster.js');
    const { Authorizer } = await import('../../shared/rbac/authorizer.js');
    const live = await loadCluster({ kubeconfig: join(clusterDir, 'admin.kubeconfig') });
    expect(live.problems).to.deep.equal([]);
    const authz = new Authorizer(live.state);
    expect(authz.aggregationPending).to.not.include('view');

    const users = [
      { name: 'alice', groups: ['dev-team', 'system:authenticated'] },
      { name: 'bob', groups: ['system:authenticated'] },
      { name: 'system:serviceaccount:e2e-team:default', groups: ['system:serviceaccounts', 'system:serviceaccounts:e2e-team', 'system:authenticated'] },
      { name: 'system:anonymous', groups: ['system:unauthenticated'] },
      { name: 'system:kube-scheduler', groups: ['system:authenticated'] },
    ];
    const targets: [string, string, string][] = [['', 'pods', ''], ['', 'pods', 'log'], ['', 'pods', 'exec'], ['', 'secrets', ''], ['', 'configmaps', ''], ['apps', 'deployments', 'scale'], ['example.com', 'widgets', ''], ['rbac.authorization.k8s.io', 'roles', ''], ['', 'nodes', ''], ['coordination.k8s.io', 'leases', '']];
    let compared = 0;
    const disagreements: string[] = [];
    for (const user of users) {
      for (const verb of ['get', 'list', 'create', 'escalate']) {
        for (const [group, resource, subresource] of targets) {
          for (const namespace of ['e2e-team', 'default', '']) {
            for (const name of ['', 'settings']) {
              const spec = { user: user.name, groups: user.groups, resourceAttributes: { namespace, verb, group, resource, subresource, name } };
              const sar = await call(admin(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
              const status = (JSON.parse(sar.body) as { status: { allowed: boolean; reason?: string } }).status;
              const ours = authz.authorize({ user, verb, resourceRequest: true, apiGroup: group, resource, subresource, namespace, name });
              compared++;
              if (ours.allowed !== status.allowed) disagreements.push(`${JSON.stringify(spec)}: apiserver ${status.allowed}, kubetrail ${ours.allowed}`);
              // The apiserver names one of possibly several allowing bindings; compare reasons where it is determined.
              else if (!ours.allowed && (status.reason ?? '') !== ours.reason) disagreements.push(`${JSON.stringify(spec)}: reason '${status.reason ?? ''}' vs '${ours.reason}'`);
            }
          }
        }
      }
    }
    for (const path of ['/healthz', '/metrics', '/apis', '/version', '/openid/v1/jwks']) {
      for (const user of users) {
        const spec = { user: user.name, groups: user.groups, nonResourceAttributes: { path, verb: 'get' } };
        const sar = await call(admin(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
        const status = (JSON.parse(sar.body) as { status: { allowed: boolean } }).status;
        const ours = authz.authorize({ user, verb: 'get', resourceRequest: false, path });
        compared++;
        if (ours.allowed !== status.allowed) disagreements.push(`${JSON.stringify(spec)}: apiserver ${status.allowed}, kubetrail ${ours.allowed}`);
      }
    }
    expect(disagreements, `${disagreements.length} of ${compared} decisions differ`).to.deep.equal([]);
    expect(compared).to.equal(1225);
  });
});
