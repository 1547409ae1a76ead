import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { CLI, cliEnv, runCli, startServe, tempDir, waitFor } from '../helpers.js';
import { requireKubernetes, startCluster, stopCluster, type Cluster } from './harness.js';


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
  let cluster: Cluster | undefined;
  let clusterDir = '';
  let apiserver = '';
  let ca: Buffer;

  before(async function () {
    requireKubernetes(this);
    const started = await startServe(['--db', db, '--services', 'ingest,alerter']);
    serve = started.child;
    cluster = startCluster(`${started.url}/audit/webhook/e2e`);
    clusterDir = cluster.dir;
    apiserver = cluster.apiserver;
    ca = readFileSync(join(clusterDir, 'ca.crt'));
  });

  after(() => {
    stopCluster(cluster);
    serve?.kill('SIGTERM');
  });

  const call = (caller: Caller, method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<Answer> =>
    new Promise((done, fail) => {
      const headers: Record<string, string> = { Accept: 'application/json', ...extraHeaders };
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
  /** A call with impersonation headers. */
  const callAs = (caller: Caller, impersonate: Record<string, string>, method: string, path: string): Promise<Answer> => call(caller, method, path, undefined, impersonate);

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
    // Through @kubernetes/client-node, with the admin kubeconfig, as a client program would.
    const kc = new KubeConfig();
    kc.loadFromFile(join(clusterDir, 'admin.kubeconfig'));
    const created0 = await kc.makeApiClient(CoreV1Api).createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-team' } } });
    expect(created0.metadata?.name).to.equal('e2e-team');
    const [created] = await eventsOf('e2e-admin', (e) => e.verb === 'create' && e.resource === 'namespaces');
    expect(created).to.include({ decision: 'allow', name: 'e2e-team' });
    expect(created!.credential).to.match(/^client-certificate X509SHA256=[0-9a-f]{64}$/);
    await waitFor(() => {
      const out = spawnSync(process.execPath, [CLI, 'alerts', '--db', db, '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
      const rules = (JSON.parse(out.stdout || '[]') as { rule: string }[]).map((a) => a.rule);
      return rules.includes('system-masters-use') && rules.includes('unattributed-break-glass');
    }, 'the masters and unattributed break-glass alerts', 30_000);
  });

  it('attributes the admin certificate to a person inside a break-glass checkout', async () => {
    const co = spawnSync(process.execPath, [CLI, 'breakglass', 'checkout', '--db', db, '--account', 'e2e-admin', '--person', 'dana@example.com', '--approved-by', 'erin@example.com', '--reason', 'e2e incident drill', '--ticket', 'INC-1', '--for', '1h', '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
    expect(co.status, co.stderr).to.equal(0);
    expect((await call(admin(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-drill' } })).status).to.equal(201);
    const [drill] = await eventsOf('e2e-admin', (e) => e.name === 'e2e-drill' && e.verb === 'create');
    expect(drill).to.include({ person: 'dana@example.com' });
    await waitFor(() => {
      const out = spawnSync(process.execPath, [CLI, 'alerts', '--db', db, '--rule', 'attributed-break-glass', '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
      return (JSON.parse(out.stdout || '[]') as { person: string | null }[]).some((a) => a.person === 'dana@example.com');
    }, 'an attributed break-glass alert naming the person', 30_000);
  });

  it('raises no escalation alert for the control plane doing its job (bootstrap roles, aggregation)', async () => {
    // Those writes did reach kubetrail: the apiserver's own creation of the cluster-admin binding.
    const bootstrap = await eventsOf('system:apiserver', (e) => e.verb === 'create' && e.resource === 'clusterrolebindings' && e.name === 'cluster-admin');
    expect(bootstrap[0]).to.include({ actorKind: 'control-plane', decision: 'allow' });
    const out = spawnSync(process.execPath, [CLI, 'alerts', '--db', db, '--rule', 'rbac-escalation', '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
    expect(out.status, out.stderr).to.equal(0);
    expect((JSON.parse(out.stdout) as { actor: string }[]).map((a) => a.actor)).to.deep.equal([]);
  });

  it('stores a human reading pods through a Role and denied secrets, with the decision and reason the apiserver wrote', async () => {
    await call(admin(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-team' } });
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pods-only', namespace: 'e2e-team' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] };
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'alice-pods', namespace: 'e2e-team' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pods-only' }, subjects: [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }] };
    expect((await call(admin(), 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/e2e-team/roles', role)).status).to.equal(201);
    expect((await call(admin(), 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/e2e-team/rolebindings', binding)).status).to.equal(201);
    const alice: Caller = { token: 'alice-token' };
    // The apiserver's RBAC cache takes a moment to see a new binding.
    await waitFor(async () => (await call(alice, 'GET', '/api/v1/namespaces/e2e-team/pods')).status === 200, "alice's new RoleBinding in effect", 10_000);
    expect((await call(alice, 'GET', '/api/v1/namespaces/e2e-team/secrets')).status).to.equal(403);
    const pods = (await eventsOf('alice', (e) => e.resource === 'pods' && e.namespace === 'e2e-team'))[0]!;
    const secrets = (await eventsOf('alice', (e) => e.resource === 'secrets' && e.namespace === 'e2e-team'))[0]!;
    expect(pods).to.include({ verb: 'list', decision: 'allow', code: 200, reason: 'RBAC: allowed by RoleBinding "alice-pods/e2e-team" of Role "pods-only" to User "alice"' });
    expect(secrets).to.include({ verb: 'list', decision: 'forbid', code: 403 });
    for (const e of [pods, secrets]) {
      const annotations = logged(e.auditID as string).annotations as Record<string, string>;
      expect([e.decision, e.reason]).to.deep.equal([annotations['authorization.k8s.io/decision'], annotations['authorization.k8s.io/reason']]);
    }
  });

  it('attributes impersonated requests: who impersonated whom, a user and a service account', async () => {
    const asAlice = await callAs(admin(), { 'Impersonate-User': 'alice', 'Impersonate-Group': 'dev-team' }, 'GET', '/api/v1/namespaces/e2e-team/pods');
    expect(asAlice.status).to.equal(200);
    const asSa = await callAs(admin(), { 'Impersonate-User': 'system:serviceaccount:e2e-team:default' }, 'GET', '/api/v1/namespaces/e2e-team/configmaps');
    expect(asSa.status).to.equal(403);
    await waitFor(async () => (await eventsOf('e2e-admin', (e) => e.impersonatedUser !== null && e.namespace === 'e2e-team')).length >= 2, 'both impersonated requests', 30_000);
    const all = await eventsOf('e2e-admin', (e) => e.impersonatedUser !== null && e.namespace === 'e2e-team');
    expect(all.find((e) => e.resource === 'pods')).to.include({ effectiveUser: 'alice', decision: 'allow' });
    expect(all.find((e) => e.resource === 'configmaps')).to.include({ effectiveUser: 'system:serviceaccount:e2e-team:default', decision: 'forbid' });
    await waitFor(() => {
      const out = spawnSync(process.execPath, [CLI, 'alerts', '--db', db, '--rule', 'impersonation', '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
      return (JSON.parse(out.stdout || '[]') as unknown[]).length > 0;
    }, 'an impersonation alert', 30_000);
  });

  it('follows a TokenRequest token to its use: service-account identity, JTI credential, who minted it', async () => {
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: 'e2e-team' } };
    expect([201, 409]).to.include((await call(admin(), 'POST', '/api/v1/namespaces/e2e-team/serviceaccounts', sa)).status);
    const kc = new KubeConfig();
    kc.loadFromFile(join(clusterDir, 'admin.kubeconfig'));
    const minted = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: 'builder', namespace: 'e2e-team', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 600 } } });
    const token = minted.status!.token;
    expect((await call({ token }, 'GET', '/api/v1/namespaces/e2e-team/pods')).status).to.equal(403);
    const [used] = await eventsOf('system:serviceaccount:e2e-team:builder', (e) => e.resource === 'pods');
    expect(used).to.include({ actorKind: 'serviceaccount', decision: 'forbid' });
    expect(used!.credential).to.match(/^bound-token JTI=[0-9a-f-]{36}$/);
    const out = spawnSync(process.execPath, [CLI, 'identities', '--db', db, '--output', 'json'], { encoding: 'utf8', env: cliEnv() });
    const builder = (JSON.parse(out.stdout) as Record<string, unknown>[]).find((i) => JSON.stringify(i).includes('system:serviceaccount:e2e-team:builder'));
    expect(JSON.stringify(builder)).to.include('e2e-admin');
  });

  it('holds exactly one action per request the apiserver logged, with the same auditID, user, verb, objectRef and code', async () => {
    // What the log backend holds now; the apiserver keeps logging (leases, controllers), and the
    // webhook sends in batches: wait until those requests arrived (or time out), then compare.
    const log = readFileSync(join(clusterDir, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    const complete = new Map<string, Record<string, any>>();
    for (const e of log) if (e.stage === 'ResponseComplete' || e.stage === 'Panic' || !complete.has(e.auditID)) complete.set(e.auditID, e);
    const storedById = () => {
      const out = spawnSync(process.execPath, [CLI, 'events', '--db', db, '--cluster', 'e2e', '--limit', '0', '--output', 'ndjson'], { encoding: 'utf8', env: cliEnv(), maxBuffer: 256 << 20 });
      const byId = new Map<string, Record<string, any>[]>();
      for (const l of out.stdout.split('\n').filter(Boolean)) {
        const s = JSON.parse(l) as Record<string, any>;
        byId.set(s.auditID, [...(byId.get(s.auditID) ?? []), s]);
      }
      return byId;
    };
    let byId = storedById();
    await waitFor(async () => {
      byId = storedById();
      if ([...complete.keys()].every((id) => byId.has(id))) return true;
      await new Promise((r) => setTimeout(r, 500));
      return false;
    }, 'every logged request stored', 30_000).catch(() => undefined);
    const problems: string[] = [];
    for (const [id, e] of complete) {
      const mine = byId.get(id) ?? [];
      if (mine.length !== 1) {
        problems.push(`${id}: ${mine.length} actions stored`);
        continue;
      }
      const s = mine[0]!;
      const ref = e.objectRef ?? {};
      const want = { user: e.user.username ?? '', verb: e.verb, apiGroup: ref.apiGroup ?? '', resource: ref.resource ?? '', subresource: ref.subresource ?? '', namespace: ref.namespace ?? '', name: ref.name ?? '', code: e.responseStatus?.code ?? null };
      const got = { user: s.user, verb: s.verb, apiGroup: s.apiGroup ?? '', resource: s.resource ?? '', subresource: s.subresource ?? '', namespace: s.namespace ?? '', name: s.name ?? '', code: s.code };
      if (JSON.stringify(want) !== JSON.stringify(got)) problems.push(`${id}: apiserver ${JSON.stringify(want)} kubetrail ${JSON.stringify(got)}`);
    }
    expect(problems.slice(0, 20), `${problems.length} of ${complete.size} requests differ`).to.deep.equal([]);
    expect(complete.size).to.be.greaterThan(100);
  });

  it('kubetrail rbac load --from-cluster and rbac can answer as the apiserver for the scenario users', async () => {
    const kubeconfig = join(clusterDir, 'admin.kubeconfig');
    const rbac = (args: string[]) => runCli(['rbac', ...args, '--db', db]);
    const load = await rbac(['load', '--from-cluster', '--kubeconfig', kubeconfig, '--cluster', 'e2e', '--output', 'json']);
    expect(load.status, load.stderr).to.equal(0);
    const summary = (JSON.parse(load.stdout) as { summary: { clusterRoles: number; apiResources: number; problems: unknown[] } }).summary;
    expect(summary.problems).to.deep.equal([]);
    expect(summary.clusterRoles).to.be.greaterThan(60);
    expect(summary.apiResources).to.be.greaterThan(50);
    const questions: [string[], { user: string; groups: string[]; attrs: Record<string, string> }][] = [
      [['list', 'pods', '-n', 'e2e-team', '--as', 'alice', '--as-group', 'dev-team'], { user: 'alice', groups: ['dev-team', 'system:authenticated'], attrs: { verb: 'list', resource: 'pods', namespace: 'e2e-team' } }],
      [['list', 'secrets', '-n', 'e2e-team', '--as', 'alice', '--as-group', 'dev-team'], { user: 'alice', groups: ['dev-team', 'system:authenticated'], attrs: { verb: 'list', resource: 'secrets', namespace: 'e2e-team' } }],
      [['get', 'pods', '-n', 'e2e-team', '--as', 'system:serviceaccount:e2e-team:builder'], { user: 'system:serviceaccount:e2e-team:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:e2e-team', 'system:authenticated'], attrs: { verb: 'get', resource: 'pods', namespace: 'e2e-team' } }],
      [['create', 'selfsubjectaccessreviews.authorization.k8s.io', '--as', 'bob'], { user: 'bob', groups: ['system:authenticated'], attrs: { verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' } }],
      [['update', 'leases.coordination.k8s.io/kube-controller-manager', '-n', 'kube-system', '--as', 'system:kube-controller-manager'], { user: 'system:kube-controller-manager', groups: ['system:authenticated'], attrs: { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system', name: 'kube-controller-manager' } }],
    ];
    for (const [args, q] of questions) {
      const sar = await call(admin(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: q.user, groups: q.groups, resourceAttributes: q.attrs } });
      const allowed = (JSON.parse(sar.body) as { status: { allowed: boolean } }).status.allowed;
      const can = await rbac(['can', ...args, '--cluster', 'e2e']);
      expect([can.status, can.stdout.trim()], args.join(' ')).to.deep.equal(allowed ? [0, 'yes'] : [1, 'no']);
    }
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

  it('recommends least privilege from what the apiserver saw: the apiserver accepts the YAML, and it allows what was used and nothing denied', async () => {
    // bob reads through the view ClusterRole (RoleBinding bob-views, above), and is denied a write.
    const bob: Caller = { token: 'bob-token' };
    expect((await call(bob, 'GET', '/api/v1/namespaces/e2e-team/configmaps')).status).to.equal(200);
    expect((await call(bob, 'GET', '/api/v1/namespaces/e2e-team/pods')).status).to.equal(200);
    expect((await call(bob, 'POST', '/api/v1/namespaces/e2e-team/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })).status).to.equal(403);
    const kubeconfig = join(clusterDir, 'admin.kubeconfig');
    expect((await runCli(['rbac', 'load', '--from-cluster', '--kubeconfig', kubeconfig, '--cluster', 'e2e', '--db', db])).status).to.equal(0);
    let out = { status: null as number | null, stdout: '', stderr: '' };
    // The webhook's batches, and the writer's write of the rollups when idle, arrive within seconds.
    await waitFor(async () => {
      out = await runCli(['rbac', 'recommend', '--user', 'bob', '--cluster', 'e2e', '--since', '1h', '--fail-on-regression', '--db', db]);
      return out.status === 0 && /resources:\n\s+- configmaps/.test(out.stdout) && out.stdout.includes('denied (x1): create /configmaps/ e2e-team/');
    }, `a recommendation for bob (last: ${out.stdout}${out.stderr})`, 30_000);
    expect(out.stdout).to.match(/# dry run: \d+ observed allowed request\(s\).*: 0 would be denied/);
    expect(out.stdout).to.include('# remove User bob from the subjects of RoleBinding e2e-team/bob-views (it has other subjects)');
    const { parseAllDocuments } = await import('yaml');
    const docs = parseAllDocuments(out.stdout);
    const objects = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; subjects?: unknown[] });
    expect(objects.map((o) => o.kind)).to.include.members(['Role', 'RoleBinding']);
    // Granted to a user who has nothing else, so that the apiserver's answers are the proposal's.
    for (const o of objects) {
      if (o.subjects) o.subjects = [{ kind: 'User', name: 'bob-next', apiGroup: 'rbac.authorization.k8s.io' }];
      const plural = { Role: 'roles', RoleBinding: 'rolebindings', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings' }[o.kind]!;
      const path = `/apis/rbac.authorization.k8s.io/v1${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${plural}`;
      const created = await call(admin(), 'POST', path, o);
      expect(created.status, `${o.kind} ${o.metadata.name}: ${created.body}`).to.equal(201);
    }
    const can = async (verb: string, resource: string): Promise<boolean> => {
      const spec = { user: 'bob-next', groups: ['system:authenticated'], resourceAttributes: { verb, resource, namespace: 'e2e-team' } };
      const sar = await call(admin(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
      return (JSON.parse(sar.body) as { status: { allowed: boolean } }).status.allowed;
    };
    // The apiserver's RBAC authorizer sees new objects through its informers, a moment after the create.
    await waitFor(() => can('list', 'pods'), 'the apiserver to see the created Role and RoleBinding', 10_000);
    expect([await can('list', 'configmaps'), await can('list', 'pods'), await can('create', 'configmaps'), await can('list', 'services')]).to.deep.equal([true, true, false, false]);
  });
});
