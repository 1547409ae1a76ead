import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { runCli, tempDir } from '../../helpers.js';

const TOKEN = 'test-token-0123456789';
const DISCOVERY = JSON.parse(readFileSync(resolve(process.cwd(), 'test', 'fixtures', 'rbac', 'discovery.json'), 'utf8')) as Record<string, unknown>;

const rbac = (kind: string, name: string, rest: Record<string, unknown>, namespace?: string) => ({ metadata: { name, ...(namespace ? { namespace } : {}), uid: `${kind}-${name}` }, ...rest });

/** Lists as the API answers them: typed lists, items without kind, paged by limit/continue. */
const LISTS: Record<string, { kind: string; items: unknown[] }> = {
  '/apis/rbac.authorization.k8s.io/v1/clusterroles': {
    kind: 'ClusterRoleList',
    items: [
      rbac('ClusterRole', 'ops-all', { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list'] }] }),
      rbac('ClusterRole', 'scaler', { rules: [{ apiGroups: ['apps'], resources: ['*/scale'], verbs: ['*'] }] }),
      rbac('ClusterRole', 'view', { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.example.com/aggregate-to-view': 'true' } }] }, rules: null }),
      { metadata: { name: 'view-pods', labels: { 'rbac.example.com/aggregate-to-view': 'true' } }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] },
    ],
  },
  '/apis/rbac.authorization.k8s.io/v1/roles': { kind: 'RoleList', items: [] },
  '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings': {
    kind: 'ClusterRoleBindingList',
    items: [
      rbac('ClusterRoleBinding', 'ops', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ops-all' }, subjects: [{ kind: 'Group', name: 'ops', apiGroup: 'rbac.authorization.k8s.io' }] }),
      rbac('ClusterRoleBinding', 'hpa', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'scaler' }, subjects: [{ kind: 'ServiceAccount', name: 'hpa', namespace: 'kube-system' }] }),
    ],
  },
  '/apis/rbac.authorization.k8s.io/v1/rolebindings': {
    kind: 'RoleBindingList',
    items: [rbac('RoleBinding', 'viewers', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'ann', apiGroup: 'rbac.authorization.k8s.io' }] }, 'web')],
  },
  '/api/v1/serviceaccounts': { kind: 'ServiceAccountList', items: [rbac('ServiceAccount', 'hpa', {}, 'kube-system'), rbac('ServiceAccount', 'default', {}, 'web')] },
};

/**
 * The live-cluster loader against a local HTTP server that answers as a kube-apiserver does
 * (bearer token, typed lists paged two items at a time, discovery from test/fixtures/rbac).
 * The real kube-apiserver test belongs to the end-to-end harness.
 */
describe('kubetrail rbac load --from-cluster', function () {
  this.timeout(60_000);
  const dir = tempDir();
  const db = join(dir, 'live.db');
  const kubeconfig = join(dir, 'kubeconfig');
  const requests: string[] = [];
  let server: Server;

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      requests.push(url.pathname + url.search);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { kind: 'Status', status: 'Failure', message: 'Unauthorized', code: 401 });
      if (url.pathname === '/api/v1/secrets') return send(403, { kind: 'Status', message: 'forbidden', code: 403 });
      if (url.pathname in DISCOVERY) return send(200, DISCOVERY[url.pathname]);
      const list = LISTS[url.pathname];
      if (!list) return send(404, { kind: 'Status', message: 'not found', code: 404 });
      const start = Number(url.searchParams.get('continue') ?? '0');
      const limit = Number(url.searchParams.get('limit'));
      if (!(limit > 0)) return send(400, { message: 'the loader must page: limit missing' });
      const page = 2;
      const next = start + page < list.items.length ? String(start + page) : undefined;
      return send(200, { kind: list.kind, apiVersion: 'v1', metadata: { resourceVersion: '42', ...(next ? { continue: next } : {}) }, items: list.items.slice(start, start + page) });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    writeFileSync(
      kubeconfig,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          // Plain HTTP, which client-node allows only with TLS verification off.
          { name: 'local', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
          { name: 'nowhere', cluster: { server: 'http://127.0.0.1:9', 'insecure-skip-tls-verify': true } },
        ],
        users: [
          { name: 'reader', user: { token: TOKEN } },
          { name: 'stranger', user: { token: 'wrong' } },
        ],
        contexts: [
          { name: 'prod', context: { cluster: 'local', user: 'reader' } },
          { name: 'bad-token', context: { cluster: 'local', user: 'stranger' } },
          { name: 'down', context: { cluster: 'nowhere', user: 'reader' } },
        ],
        'current-context': 'down',
      }),
    );
  });
  after(() => server.close());

  // Asynchronous: the server answers from this process, which must keep running meanwhile.
  const cli = (args: string[]) => runCli(['rbac', ...args, '--db', db]);

  it('reads every list page by page with the context credentials, and discovery, into a snapshot', async () => {
    const r = await cli(['load', '--from-cluster', '--kubeconfig', kubeconfig, '--context', 'prod', '--cluster', 'prod', '--output', 'json']);
    expect(r.status, r.stderr).to.equal(0);
    const info = JSON.parse(r.stdout) as { source: string; summary: Record<string, unknown> };
    expect(info.source).to.match(/^cluster: context prod \(http:\/\/127\.0\.0\.1:\d+\)$/);
    expect(info.summary).to.deep.include({ clusterRoles: 4, roles: 0, clusterRoleBindings: 2, roleBindings: 1, serviceAccounts: 2, apiResources: 16, problems: [], aggregationPending: ['view'] });
    expect(requests).to.include('/apis/rbac.authorization.k8s.io/v1/clusterroles?limit=500&continue=2');
  });

  it('evaluates the snapshot with discovery: short names, aggregation, wildcards expanded', async () => {
    const can = async (...args: string[]) => (await cli(['can', ...args, '--cluster', 'prod'])).stdout.trim();
    expect(await can('get', 'po', '-n', 'web', '--as', 'ann')).to.equal('yes');
    expect(await can('list', 'deploy', '-n', 'web', '--as', 'ann')).to.equal('no');
    expect(await can('patch', 'deploy/web', '--subresource', 'scale', '-n', 'web', '--as', 'system:serviceaccount:kube-system:hpa')).to.equal('yes');
    const perms = JSON.parse((await cli(['permissions', '--user', 'bob', '--group', 'ops', '--cluster', 'prod', '--output', 'json'])).stdout) as {
      grants: { role: { name: string }; rules: { expanded?: { apiGroup: string; resource: string; verbs: string[] }[] }[] }[];
    };
    const expanded = perms.grants[0]!.rules[0]!.expanded!;
    expect(perms.grants[0]!.role.name).to.equal('ops-all');
    expect(expanded.map((e) => `${e.apiGroup}/${e.resource}`)).to.include.members(['/secrets', '/pods/log', 'apps/deployments', 'rbac.authorization.k8s.io/roles']);
    expect(expanded.find((e) => e.resource === 'pods/exec')!.verbs).to.deep.equal(['get', 'list']);
    const hpa = JSON.parse((await cli(['permissions', '--serviceaccount', 'kube-system:hpa', '--cluster', 'prod', '--output', 'json'])).stdout) as typeof perms;
    expect(hpa.grants[0]!.rules[0]!.expanded).to.deep.equal([{ apiGroup: 'apps', resource: 'deployments/scale', verbs: ['get', 'patch', 'update'] }]);
  });

  it('says what is wrong when the cluster refuses, cannot be reached, or the context does not exist (exit 2)', async () => {
    const refused = await cli(['load', '--from-cluster', '--kubeconfig', kubeconfig, '--context', 'bad-token']);
    expect(refused.status).to.equal(2);
    expect(refused.stderr).to.match(/GET \/apis\/rbac\.authorization\.k8s\.io\/v1\/clusterroles on http:\/\/127\.0\.0\.1:\d+: HTTP 401: the credentials need get\/list/);
    const down = await cli(['load', '--from-cluster', '--kubeconfig', kubeconfig]);
    expect(down.status).to.equal(2);
    expect(down.stderr).to.match(/cannot reach http:\/\/127\.0\.0\.1:9/);
    const missing = await cli(['load', '--from-cluster', '--kubeconfig', kubeconfig, '--context', 'staging']);
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.include('--context staging: no such context in the kubeconfig (it has: prod, bad-token, down)');
  });
});
