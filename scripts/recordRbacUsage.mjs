// Records test/fixtures/rbac-usage/ from a real kube-apiserver (test/e2e/cluster/cluster.sh):
// creates a few RBAC objects as the admin, makes allowed, denied and impersonated requests as
// alice, bob, carol, dave and erin (static tokens), then keeps those users' audit events as the
// apiserver wrote them, the RBAC objects as it serves them, and a SOURCE.md with the table.
//   node scripts/recordRbacUsage.mjs      (Kubernetes binaries from test/infra/k8s/build.sh)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLUSTER_SH = join(REPO, 'test', 'e2e', 'cluster', 'cluster.sh');
const OUT = join(REPO, 'test', 'fixtures', 'rbac-usage');
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isRbac = (o) => /Role/.test(o.kind); // ClusterRole, Role, ClusterRoleBinding, RoleBinding

const rule = (resources, verbs, extra = {}) => ({ apiGroups: [''], resources, verbs, ...extra });
const ref = (kind, name) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name });
const subject = (kind, name) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name });
const ns = (namespace) => `/api/v1/namespaces/${namespace}`;

// [collection path, object] created by the admin, in order; the RBAC kinds go into rbac.json.
const SETUP = [
  ['/api/v1/namespaces', { kind: 'Namespace', metadata: { name: 'payments' } }],
  ['/api/v1/namespaces', { kind: 'Namespace', metadata: { name: 'ops' } }],
  [`${RBAC}/clusterroles`, { kind: 'ClusterRole', metadata: { name: 'pod-reader' }, rules: [rule(['pods'], ['get', 'list', 'watch'])] }],
  [`${RBAC}/namespaces/payments/rolebindings`, { kind: 'RoleBinding', metadata: { name: 'alice-pods', namespace: 'payments' }, roleRef: ref('ClusterRole', 'pod-reader'), subjects: [subject('User', 'alice')] }],
  [`${RBAC}/namespaces/payments/roles`, { kind: 'Role', metadata: { name: 'secret-reader', namespace: 'payments' }, rules: [rule(['secrets'], ['get'])] }],
  [`${RBAC}/namespaces/payments/rolebindings`, { kind: 'RoleBinding', metadata: { name: 'carol-secrets', namespace: 'payments' }, roleRef: ref('Role', 'secret-reader'), subjects: [subject('User', 'carol')] }],
  [`${RBAC}/clusterroles`, { kind: 'ClusterRole', metadata: { name: 'configmap-editor' }, rules: [rule(['configmaps'], ['get', 'list', 'create', 'update'])] }],
  [`${RBAC}/namespaces/payments/rolebindings`, { kind: 'RoleBinding', metadata: { name: 'bob-cm', namespace: 'payments' }, roleRef: ref('ClusterRole', 'configmap-editor'), subjects: [subject('User', 'bob')] }],
  [`${RBAC}/clusterrolebindings`, { kind: 'ClusterRoleBinding', metadata: { name: 'erin-pods' }, roleRef: ref('ClusterRole', 'pod-reader'), subjects: [subject('Group', 'sre')] }],
  [`${RBAC}/clusterroles`, { kind: 'ClusterRole', metadata: { name: 'impersonate-alice' }, rules: [rule(['users'], ['impersonate'], { resourceNames: ['alice'] })] }],
  [`${RBAC}/clusterrolebindings`, { kind: 'ClusterRoleBinding', metadata: { name: 'erin-impersonates' }, roleRef: ref('ClusterRole', 'impersonate-alice'), subjects: [subject('User', 'erin')] }],
  [`${ns('payments')}/configmaps`, { kind: 'ConfigMap', metadata: { name: 'app' }, data: { mode: 'test' } }],
  [`${ns('payments')}/secrets`, { kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'not-a-real-one' } }],
];

// The scenario: [user, method, path, expected HTTP status, options].
const REQUESTS = [
  ['alice', 'GET', `${ns('payments')}/pods`, 200],
  ['alice', 'GET', `${ns('payments')}/pods/nope`, 404],
  ['alice', 'GET', `${ns('ops')}/pods`, 403],
  ['alice', 'GET', `${ns('payments')}/secrets`, 403],
  ['alice', 'GET', '/api', 200],
  ['alice', 'GET', '/apis', 200],
  ['alice', 'GET', '/version', 200],
  ['bob', 'GET', `${ns('payments')}/configmaps`, 200],
  ['bob', 'GET', `${ns('payments')}/configmaps/app`, 200],
  ['bob', 'POST', `${ns('payments')}/configmaps`, 201, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bob-cm-1' }, data: { by: 'bob' } } }],
  ['bob', 'DELETE', `${ns('payments')}/configmaps/app`, 403],
  ['bob', 'GET', `${ns('kube-system')}/pods`, 403],
  ['bob', 'GET', `${ns('payments')}/pods`, 403, { as: 'alice' }],
  ['carol', 'GET', `${ns('payments')}/secrets/db`, 200],
  ['carol', 'GET', `${ns('payments')}/secrets`, 403],
  ['carol', 'GET', `${ns('ops')}/secrets/db`, 403],
  ['dave', 'GET', `${ns('payments')}/pods`, 403],
  ['dave', 'GET', '/api/v1/pods', 403],
  ['dave', 'GET', `${ns('payments')}/configmaps/app`, 403],
  ['erin', 'GET', `${ns('payments')}/pods`, 200],
  ['erin', 'GET', `${ns('ops')}/pods`, 200],
  ['erin', 'GET', '/api/v1/pods', 200],
  ['erin', 'GET', `${ns('payments')}/pods`, 200, { as: 'alice' }],
  ['erin', 'GET', `${ns('ops')}/pods`, 403, { as: 'alice' }],
];

/** One HTTPS request: as the admin certificate, or with `token`. Resolves to status, headers, parsed body. */
function call(cluster, method, path, { token, body, headers = {} } = {}) {
  const opts = { method, ca: cluster.ca, headers: { Accept: 'application/json', ...headers } };
  if (token) opts.headers.Authorization = `Bearer ${token}`;
  else Object.assign(opts, { cert: cluster.cert, key: cluster.key });
  const data = body === undefined ? undefined : JSON.stringify(body);
  if (data) opts.headers['Content-Type'] = 'application/json';
  return new Promise((res, rej) => {
    const req = httpsRequest(new URL(path, cluster.url), opts, (r) => {
      let text = '';
      r.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = text; }
        res({ status: r.statusCode, headers: r.headers, body: json });
      });
    });
    req.on('error', rej).end(data);
  });
}

async function admin(cluster, method, path, body) {
  const r = await call(cluster, method, path, { body });
  if (r.status >= 300) throw new Error(`admin ${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** Waits until the RBAC authorizer's caches hold the new objects (SubjectAccessReviews as the admin). */
async function waitForRbac(cluster) {
  const checks = [
    { user: 'alice', resourceAttributes: { namespace: 'payments', verb: 'list', resource: 'pods' } },
    { user: 'carol', resourceAttributes: { namespace: 'payments', verb: 'get', resource: 'secrets', name: 'db' } },
    { user: 'bob', resourceAttributes: { namespace: 'payments', verb: 'create', resource: 'configmaps' } },
    { user: 'erin', groups: ['sre'], resourceAttributes: { verb: 'list', resource: 'pods' } },
    { user: 'erin', resourceAttributes: { verb: 'impersonate', resource: 'users', name: 'alice' } },
  ];
  for (const spec of checks) {
    for (let i = 0; ; i++) {
      const sar = await admin(cluster, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
      if (sar.status?.allowed) break;
      if (i > 50) throw new Error(`RBAC not in effect after 10 s: ${JSON.stringify(spec)}`);
      await sleep(200);
    }
  }
}

function startCluster() {
  const r = spawnSync('bash', [CLUSTER_SH, 'start', 'http://127.0.0.1:9/audit/webhook/rbac-usage'], { encoding: 'utf8' });
  const m = /KUBETRAIL_E2E_DIR=(\S+)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`cluster.sh start failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const dir = m[1];
  const read = (f) => readFileSync(join(dir, f));
  return { dir, url: /APISERVER_URL=(\S+)/.exec(read('env').toString())[1], ca: read('ca.crt'), cert: read('admin.crt'), key: read('admin.key') };
}

const strip = (o) => {
  for (const k of ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp']) delete o.metadata[k];
  return o;
};
const cell = (v) => (v === undefined ? '–' : v === '' ? '""' : String(v).replaceAll('|', '\\|')); // – absent, "" empty

async function record(cluster) {
  for (const [path, obj] of SETUP) await admin(cluster, 'POST', path, { apiVersion: isRbac(obj) ? 'rbac.authorization.k8s.io/v1' : 'v1', ...obj });
  await waitForRbac(cluster);

  const made = [];
  for (const [user, method, path, expected, { body, as } = {}] of REQUESTS) {
    const r = await call(cluster, method, path, { token: `${user}-token`, body, headers: as ? { 'Impersonate-User': as } : {} });
    made.push({ user, method, path, expected, as, status: r.status, auditID: r.headers['audit-id'] });
  }
  await sleep(3000); // let the log backend write the last events

  const lines = readFileSync(join(cluster.dir, 'audit.log'), 'utf8').split('\n').filter(Boolean);
  const byID = new Map();
  for (const line of lines) {
    const e = JSON.parse(line);
    if (e.stage === 'ResponseComplete' && USERS.includes(e.user?.username)) byID.set(e.auditID, { line, e });
  }
  const kept = made.map((m) => ({ ...m, ...byID.get(m.auditID) }));
  const extra = byID.size - kept.filter((k) => k.e).length;

  const rbac = SETUP.filter(([, o]) => isRbac(o)).map(([path, o]) => path + '/' + o.metadata.name);
  const items = [];
  for (const path of rbac) items.push(strip(await admin(cluster, 'GET', path)));
  const version = (await admin(cluster, 'GET', '/version')).gitVersion;

  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'audit.jsonl'), kept.filter((k) => k.line).map((k) => k.line + '\n').join(''));
  writeFileSync(join(OUT, 'rbac.json'), JSON.stringify({ kind: 'List', apiVersion: 'v1', items }, null, 1) + '\n');

  const rows = kept.map((k, i) => {
    const a = k.e?.annotations ?? {};
    const target = k.e?.objectRef ? [k.e.objectRef.resource, k.e.objectRef.name].filter(Boolean).join('/') : k.e?.requestURI;
    return `| ${i + 1} | ${k.user} | ${cell(k.e?.verb)} | ${cell(target)} | ${cell(k.e?.objectRef?.namespace)} | ${cell(k.e?.impersonatedUser?.username)} | ${k.status} | ${cell(a['authorization.k8s.io/decision'])} | ${cell(a['authorization.k8s.io/reason'])} |`;
  });
  writeFileSync(join(OUT, 'SOURCE.md'), `# test/fixtures/rbac-usage

Recorded by \`node scripts/recordRbacUsage.mjs\` against kube-apiserver ${version} started by
\`test/e2e/cluster/cluster.sh\` (\`--authorization-mode=Node,RBAC\`, the audit policy in
\`deploy/audit-policy.yaml\`, log backend in JSON). Running the script again gives the same content
except audit IDs, timestamps and resource versions.

- \`rbac.json\`: the RBAC objects the admin (client certificate in system:masters) created, as the
  apiserver serves them on GET (managedFields, resourceVersion, uid, creationTimestamp removed), as a
  \`v1 List\`: ClusterRole \`pod-reader\` (get, list, watch pods) bound by RoleBinding \`payments/alice-pods\`
  to alice and by ClusterRoleBinding \`erin-pods\` to group \`sre\` (erin); Role \`payments/secret-reader\`
  (get secrets) bound by \`payments/carol-secrets\` to carol; ClusterRole \`configmap-editor\` (get, list,
  create, update configmaps) bound by \`payments/bob-cm\` to bob; ClusterRole \`impersonate-alice\`
  (impersonate users, resourceNames alice) bound by ClusterRoleBinding \`erin-impersonates\` to erin.
  The admin also created namespaces \`payments\` and \`ops\`, configmap \`payments/app\` and secret
  \`payments/db\` (not in the file).
- \`audit.jsonl\`: the apiserver's audit events (stage ResponseComplete, lines unmodified) of the
  requests below, made with static tokens (\`tokens.csv\` in cluster.sh: alice in dev-team, bob, carol
  in qa, dave with no group, erin in sre), in the order made. dave has no binding: all his
  requests are denied.

In the table, – is a field or annotation the event does not have and "" one that is empty. What
the apiserver does here, and a consumer must take as it is:
- A denial by RBAC has \`authorization.k8s.io/decision: forbid\` and an empty \`reason\`.
- A denied impersonation (bob as alice) is refused by the impersonation filter before
  authorization: the event has no decision annotation and no \`impersonatedUser\`; its objectRef is
  the request's target (pods), and \`responseStatus\` names the refused \`users\` \`alice\`.
- An impersonated request (erin as alice) is authorized as alice: the reason names alice's binding.
- The reason of \`/version\` is not stable between recordings: both \`system:discovery\` and
  \`system:public-info-viewer\` allow it, and RBAC names the first binding its cache yields.
- bob's token line in cluster.sh ends with an empty group field, so his events carry the group "".

| # | user | verb | resource or path | namespace | impersonated | HTTP | decision | reason |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`);

  console.log(`${OUT}: ${kept.filter((k) => k.line).length} events of ${made.length} requests (${extra} other events of these users), ${items.length} RBAC objects`);
  for (const k of kept) {
    const a = k.e?.annotations ?? {};
    const flag = k.status !== k.expected ? `  <-- expected ${k.expected}` : !k.e ? '  <-- no audit event' : '';
    console.log(`${k.user.padEnd(5)} ${k.method.padEnd(6)} ${k.path}${k.as ? ` as ${k.as}` : ''}: ${k.status} ${a['authorization.k8s.io/decision'] ?? '-'}${flag}`);
  }
  return kept.every((k) => k.status === k.expected && k.e);
}

let cluster;
process.on('SIGINT', () => {
  if (cluster) spawnSync('bash', [CLUSTER_SH, 'stop', cluster.dir]);
  process.exit(130);
});
try {
  cluster = startCluster();
  if (!(await record(cluster))) process.exitCode = 1;
} finally {
  if (cluster) spawnSync('bash', [CLUSTER_SH, 'stop', cluster.dir]);
}
