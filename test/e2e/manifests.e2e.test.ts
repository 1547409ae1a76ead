import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig } from '../../shared/config.js';
import { cliEnv, runCli, tempDir } from '../helpers.js';
import { requireKubernetes, startCluster, stopCluster, type Cluster } from './harness.js';

const DIR = resolve('deploy', 'kubernetes');
const SA = 'system:serviceaccount:kubetrail:kubetrail';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** The objects of the manifests, in the order `kubectl apply -f deploy/kubernetes/` takes them. */
function manifests(): { file: string; object: K8sObject }[] {
  return readdirSync(DIR)
    .filter((f) => /^\d\d-.*\.yaml$/.test(f))
    .sort()
    .flatMap((file) => parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => ({ file, object: d.toJS() as K8sObject })));
}

/**
 * deploy/kubernetes/ against the real kube-apiserver of the e2e harness: every object accepted
 * by server-side apply (dry run, strict field validation, no PodSecurity warning in the
 * restricted namespace); the RBAC granted is what `kubetrail rbac load --from-cluster` needs
 * (it runs with the ServiceAccount's own token) and no more (`kubetrail rbac can` with the
 * manifests' RBAC says no to anything wider); the webhook kubeconfig points at the Service.
 */
describe('deploy/kubernetes: the manifests through the real apiserver', function () {
  this.timeout(10 * 60_000);
  let cluster: Cluster | undefined;
  let ca: Buffer;
  let cert: Buffer;
  let key: Buffer;
  const dir = tempDir();

  before(function () {
    requireKubernetes(this);
    cluster = startCluster('http://127.0.0.1:9/audit/webhook/manifests');
    [ca, cert, key] = ['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFileSync(join(cluster!.dir, f))) as [Buffer, Buffer, Buffer];
  });

  after(() => stopCluster(cluster));

  const call = (method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: string; warning: string }> =>
    new Promise((done, fail) => {
      const req = request(new URL(path, cluster!.apiserver), { method, ca, cert, key, headers: { Accept: 'application/json', 'Content-Type': contentType } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text, warning: String(res.headers.warning ?? '') }));
      });
      req.on('error', fail);
      req.end(body);
    });

  /** The REST path of an object, from discovery: its group and version, plural, scope. */
  async function pathOf(o: K8sObject): Promise<string> {
    const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
    const list = JSON.parse((await call('GET', base)).body) as { resources: { name: string; kind: string; namespaced: boolean }[] };
    const r = list.resources.find((x) => x.kind === o.kind && !x.name.includes('/'))!;
    expect(r, `${o.kind} in ${base}`).to.not.equal(undefined);
    return `${base}${r.namespaced ? `/namespaces/${o.metadata.namespace}` : ''}/${r.name}/${o.metadata.name}`;
  }

  const apply = async (o: K8sObject, dryRun: boolean) =>
    call('PATCH', `${await pathOf(o)}?fieldManager=kubetrail-manifests-test&fieldValidation=Strict${dryRun ? '&dryRun=All' : ''}`, JSON.stringify(o), 'application/apply-patch+yaml');

  it('has every object accepted by server-side apply (dry run, strict validation), the pod spec restricted without a PodSecurity warning', async () => {
    const all = manifests();
    expect(all.map((m) => m.object.kind)).to.include.members(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Secret', 'StatefulSet', 'Service', 'NetworkPolicy']);
    // The namespace for real: objects in it cannot be dry-run without it.
    const ns = all.find((m) => m.object.kind === 'Namespace')!.object;
    const created = await apply(ns, false);
    expect(created.status, created.body).to.be.oneOf([200, 201]);
    for (const { file, object } of all) {
      const r = await apply(object, true);
      expect(r.status, `${file} ${object.kind}/${object.metadata.name}: ${r.body.slice(0, 500)}`).to.be.oneOf([200, 201]);
      expect(r.warning, `${file} ${object.kind}: ${r.warning}`).to.not.match(/PodSecurity|unknown field|duplicate field/);
    }
    const sts = all.find((m) => m.object.kind === 'StatefulSet')!.object as unknown as { spec: { template: { spec: { containers: { securityContext: Record<string, unknown>; livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; resources: { requests: unknown } }[] } } } };
    const c = sts.spec.template.spec.containers[0]!;
    expect(c.securityContext).to.deep.include({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]).to.deep.equal(['/healthz', '/readyz']);
    expect(c.resources.requests).to.not.equal(undefined);
  });

  it('grants exactly what rbac load --from-cluster needs: it runs with the ServiceAccount\'s token, and nothing wider is allowed', async () => {
    for (const { object } of manifests().filter((m) => m.file === '10-rbac.yaml')) {
      const r = await apply(object, false);
      expect(r.status, r.body).to.be.oneOf([200, 201]);
    }
    // The ServiceAccount's own token, as its pod would have it.
    const minted = await call('POST', '/api/v1/namespaces/kubetrail/serviceaccounts/kubetrail/token', JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } }));
    expect(minted.status, minted.body).to.equal(201);
    const token = (JSON.parse(minted.body) as { status: { token: string } }).status.token;
    const kubeconfig = join(dir, 'sa.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'e2e', cluster: { server: cluster!.apiserver, 'certificate-authority': join(cluster!.dir, 'ca.crt') } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'e2e', user: 'sa' } }],
    }));
    const db = join(dir, 'sa.db');
    const loaded = await runCli(['rbac', 'load', '--from-cluster', '--kubeconfig', kubeconfig, '--cluster', 'e2e', '--db', db], cliEnv());
    expect(loaded.status, loaded.stderr).to.equal(0);
    expect(loaded.stdout).to.match(/ClusterRoles, \d+ Roles/).and.match(/API resources from discovery/);
    // The token alone cannot read a Secret or a pod: the apiserver says so too.
    const secret = await new Promise<number>((done, fail) => {
      const req = request(new URL('/api/v1/namespaces/kube-system/secrets', cluster!.apiserver), { ca, headers: { Authorization: `Bearer ${token}` } }, (res) => (res.resume(), done(res.statusCode ?? 0)));
      req.on('error', fail);
      req.end();
    });
    expect(secret).to.equal(403);

    // kubetrail's own answer, from the manifests' RBAC: yes for each call it makes, no for anything wider.
    const store = join(dir, 'manifests.db');
    expect((await runCli(['rbac', 'load', join(DIR, '10-rbac.yaml'), '--cluster', 'm', '--db', store], cliEnv())).status).to.equal(0);
    const can = async (verb: string, target: string, ...more: string[]) => (await runCli(['rbac', 'can', verb, target, '--as', SA, '--cluster', 'm', '--db', store, ...more], cliEnv())).status;
    for (const kind of ['roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io', 'clusterroles.rbac.authorization.k8s.io', 'clusterrolebindings.rbac.authorization.k8s.io', 'serviceaccounts']) {
      expect(await can('list', kind), `list ${kind}`).to.equal(0);
    }
    for (const url of ['/api', '/api/v1', '/apis', '/apis/apps/v1']) expect(await can('get', url), `get ${url}`).to.equal(0);
    const wider: [string, string, ...string[]][] = [
      ['get', 'roles.rbac.authorization.k8s.io', '-n', 'default'], ['watch', 'clusterroles.rbac.authorization.k8s.io'], ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', 'default'],
      ['list', 'secrets'], ['get', 'secrets', '-n', 'kube-system'], ['list', 'pods'], ['create', 'serviceaccounts', '--subresource', 'token', '-n', 'kubetrail'], ['get', '/healthz'],
      ['escalate', 'clusterroles.rbac.authorization.k8s.io'], ['impersonate', 'users'],
    ];
    for (const [verb, target, ...more] of wider) expect(await can(verb, target, ...more), `${verb} ${target} ${more.join(' ')}`).to.equal(1);
  });

  it('points the webhook kubeconfig at the Service, over TLS, on a webhook path', () => {
    const kc = parseYaml(readFileSync(join(DIR, 'audit-webhook-kubeconfig.yaml'), 'utf8')) as { clusters: { cluster: { server: string } }[] };
    const url = new URL(kc.clusters[0]!.cluster.server);
    const service = manifests().find((m) => m.object.kind === 'Service')!.object as unknown as K8sObject & { spec: { ports: { port: number }[] } };
    expect(url.protocol).to.equal('https:');
    expect(url.hostname).to.equal(`${service.metadata.name}.${service.metadata.namespace}.svc`);
    expect(Number(url.port || 443)).to.equal(service.spec.ports[0]!.port);
    expect(url.pathname).to.match(/^\/audit\/webhook\/[\w.-]+$/);
  });

  it('ships a configuration kubetrail accepts, listening where the Service and probes send', () => {
    const cm = manifests().find((m) => m.object.kind === 'ConfigMap')!.object as unknown as { data: Record<string, string> };
    const file = join(dir, 'kubetrail.yaml');
    writeFileSync(file, cm.data['kubetrail.yaml']!);
    const config = loadConfig({ file, env: { KUBETRAIL_API_TOKEN: 'a-token-of-twenty-characters', KUBETRAIL_REDACTION_KEY: '00'.repeat(32) } });
    expect(config.listen).to.equal('0.0.0.0:8443');
    expect(config.tls).to.deep.include({ certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' });
    expect(config.database.path).to.equal('/data/kubetrail.db');
  });
});
