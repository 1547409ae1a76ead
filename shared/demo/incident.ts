/**
 * The incident `kubetrail demo` weaves into a generated day of a cluster, as audit Events, and
 * the RBAC snapshot it is judged against. Each part is what a detection or a report of
 * kubetrail is for; README "A demo" tells the story. Pure: the events follow from `endMicros`.
 */

const AUTH = 'system:authenticated';
const RBAC = 'rbac.authorization.k8s.io';
const KUBECTL = 'kubectl/v1.31.2 (darwin/arm64) kubernetes/5864a46';

interface User {
  username: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

const person = (email: string, groups: string[]): User => ({ username: email, groups: [...groups, AUTH], extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${email.length}4c1e9d1c-demo`] } });
const sa = (ns: string, name: string): User => ({ username: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, AUTH] });
const controller = (name: string) => sa('kube-system', name);

export const DEMO_PEOPLE = {
  dana: person('dana@example.com', ['oidc:payments-dev']),
  erin: person('erin@example.com', ['oidc:support']),
  admin: { username: 'kubernetes-admin', groups: ['system:masters', AUTH], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=5f1c0de7a1b2c3d4e5f60718293a4b5c6d7e8f9011121314151617181920aabb'] } } satisfies User,
  deployer: sa('ci', 'deployer'),
  shopDefault: sa('shop', 'default'),
};

/** A privileged container that mounts the node's root: what privileged-workload is for. */
const PRIVILEGED_SPEC = {
  containers: [{ name: 'scorer', image: 'registry.example.com/payments/fraud-scorer:2.4.1', securityContext: { privileged: true }, volumeMounts: [{ name: 'host', mountPath: '/host' }] }],
  volumes: [{ name: 'host', hostPath: { path: '/' } }],
};

/** The incident's events, in the order they happened, ending before `endMicros`. */
export function incidentEvents(endMicros: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const base = endMicros - 3 * 3600e6;
  let seq = 0;
  const at = (offsetSeconds: number) => base + Math.round(offsetSeconds * 1e6);
  const time = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`;
  const push = (
    seconds: number,
    user: User,
    verb: string,
    ref: Record<string, string> | null,
    more: { uri?: string; code?: number; reason?: string; forbid?: boolean; ip?: string; agent?: string; request?: unknown; stage?: string } = {},
  ) => {
    const t = at(seconds);
    const r = ref ?? {};
    const path = ref
      ? `/${r.apiGroup ? `apis/${r.apiGroup}/v1` : 'api/v1'}${r.namespace ? `/namespaces/${r.namespace}` : ''}/${r.resource}${r.name ? `/${r.name}` : ''}${r.subresource ? `/${r.subresource}` : ''}`
      : '/';
    const code = more.code ?? (more.forbid ? 403 : verb === 'create' ? 201 : 200);
    out.push({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: more.request !== undefined ? 'Request' : 'Metadata',
      auditID: `de30${String(++seq).padStart(4, '0')}-7c1e-4d2a-9b3f-${Math.floor(endMicros / 1e6).toString(16).padStart(12, '0').slice(-12)}`,
      stage: more.stage ?? 'ResponseComplete',
      requestURI: more.uri ?? path,
      verb,
      user,
      sourceIPs: [more.ip ?? '203.0.113.24'],
      userAgent: more.agent ?? KUBECTL,
      ...(ref ? { objectRef: { apiVersion: 'v1', ...ref } } : {}),
      responseStatus: { metadata: {}, code },
      ...(more.request !== undefined ? { requestObject: more.request } : {}),
      requestReceivedTimestamp: time(t),
      stageTimestamp: time(t + 4000),
      annotations: more.forbid
        ? { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' }
        : { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': more.reason ?? '' },
    });
  };
  const { dana, erin, admin, deployer, shopDefault } = DEMO_PEOPLE;
  const danaEdit = 'RBAC: allowed by RoleBinding "payments/payments" of ClusterRole "edit" to Group "oidc:payments-dev"';

  // 1. dana's Deployment makes a privileged pod through two controllers.
  const deployment = { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'fraud-scorer', namespace: 'payments' }, spec: { replicas: 1, template: { metadata: { labels: { app: 'fraud-scorer' } }, spec: PRIVILEGED_SPEC } } };
  push(0, dana, 'create', { resource: 'deployments', apiGroup: 'apps', namespace: 'payments', name: 'fraud-scorer' }, { request: deployment, reason: danaEdit, uri: '/apis/apps/v1/namespaces/payments/deployments' });
  const rs = { kind: 'ReplicaSet', apiVersion: 'apps/v1', metadata: { name: 'fraud-scorer-7c9d5f', namespace: 'payments', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'fraud-scorer', controller: true }] }, spec: { template: { spec: PRIVILEGED_SPEC } } };
  push(1.2, controller('deployment-controller'), 'create', { resource: 'replicasets', apiGroup: 'apps', namespace: 'payments', name: 'fraud-scorer-7c9d5f' }, { request: rs, ip: '10.0.0.11', agent: 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:deployment-controller', reason: 'RBAC: allowed by ClusterRoleBinding "system:controller:deployment-controller" of ClusterRole "system:controller:deployment-controller" to ServiceAccount "deployment-controller/kube-system"' });
  const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'fraud-scorer-7c9d5f-x2k4p', namespace: 'payments', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'fraud-scorer-7c9d5f', controller: true }] }, spec: PRIVILEGED_SPEC };
  push(2.5, controller('replicaset-controller'), 'create', { resource: 'pods', namespace: 'payments', name: 'fraud-scorer-7c9d5f-x2k4p' }, { request: pod, ip: '10.0.0.11', agent: 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:replicaset-controller', reason: 'RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller" to ServiceAccount "replicaset-controller/kube-system"' });

  // 2. The break-glass account, outside any checkout: a backdoor binding, a Secret, an exec to the metadata service.
  const backdoor = { kind: 'ClusterRoleBinding', apiVersion: `${RBAC}/v1`, metadata: { name: 'support-tools' }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ apiGroup: RBAC, kind: 'User', name: 'mallory@example.com' }] };
  const adminOpts = { ip: '10.8.0.6', agent: 'kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f' };
  push(600, admin, 'create', { resource: 'clusterrolebindings', apiGroup: RBAC, name: 'support-tools' }, { ...adminOpts, request: backdoor, uri: `/apis/${RBAC}/v1/clusterrolebindings` });
  push(645, admin, 'get', { resource: 'secrets', namespace: 'payments', name: 'payments-db-credentials' }, adminOpts);
  push(700, admin, 'create', { resource: 'pods', subresource: 'exec', namespace: 'payments', name: 'fraud-scorer-7c9d5f-x2k4p' }, {
    ...adminOpts,
    stage: 'ResponseStarted',
    code: 101,
    uri: '/api/v1/namespaces/payments/pods/fraud-scorer-7c9d5f-x2k4p/exec?command=sh&command=-c&command=curl+-s+http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2Fiam%2Fsecurity-credentials%2F&container=scorer&stdin=true&stdout=true&tty=true',
  });

  // 3. CI's deployer token reads Secrets across the cluster.
  const deployerReason = 'RBAC: allowed by ClusterRoleBinding "ci-deployer" of ClusterRole "secret-reader" to ServiceAccount "deployer/ci"';
  const ciOpts = { ip: '198.51.100.200', agent: 'python-requests/2.31.0', reason: deployerReason };
  push(1800, deployer, 'list', { resource: 'secrets' }, { ...ciOpts, uri: '/api/v1/secrets?limit=500' });
  ['payments', 'shop', 'orders', 'checkout', 'kube-system', 'monitoring', 'ci', 'data-pipeline', 'search', 'ml-serving', 'frontend', 'team-a'].forEach((ns, i) =>
    push(1810 + i * 7, deployer, 'get', { resource: 'secrets', namespace: ns, name: `${ns}-db-credentials` }, ciOpts),
  );

  // 4. Anonymous scanning from one address.
  for (let i = 0; i < 30; i++) {
    const target = ['secrets', 'pods', 'configmaps', 'serviceaccounts', 'namespaces'][i % 5]!;
    push(3600 + i * 1.5, { username: 'system:anonymous', groups: ['system:unauthenticated'] }, 'list', { resource: target }, { forbid: true, ip: '203.0.113.66', agent: 'Go-http-client/1.1', uri: `/api/v1/${target}` });
  }

  // 5. A namespace's default service account acting.
  const defaultReason = 'RBAC: allowed by RoleBinding "shop-default-edit/shop" of ClusterRole "edit" to ServiceAccount "default/shop"';
  push(5400, shopDefault, 'list', { resource: 'pods', namespace: 'shop' }, { ip: '10.42.3.17', agent: 'Go-http-client/2.0', reason: defaultReason });
  push(5410, shopDefault, 'get', { resource: 'configmaps', namespace: 'shop', name: 'shop-config' }, { ip: '10.42.3.17', agent: 'Go-http-client/2.0', reason: defaultReason });

  // 6. erin reads pods in shop now and then, through her view binding; her cluster-admin binding goes unused.
  const erinReason = 'RBAC: allowed by RoleBinding "erin-view/shop" of ClusterRole "view" to User "erin@example.com"';
  for (let i = 0; i < 8; i++) {
    push(-6 * 3600 + i * 1200, erin, i % 2 ? 'list' : 'get', { resource: 'pods', namespace: 'shop', ...(i % 2 ? {} : { name: 'shop-web-6d8f7' }) }, { ip: '198.51.100.31', reason: erinReason });
  }
  return out.sort((a, b) => String(a.requestReceivedTimestamp).localeCompare(String(b.requestReceivedTimestamp)));
}

/** The RBAC snapshot the demo loads: who may do what in the incident's cluster. */
export const DEMO_RBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cluster-admin}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
- {nonResourceURLs: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view}
rules:
- {apiGroups: [""], resources: [pods, pods/log, services, endpoints, configmaps, persistentvolumeclaims, events, serviceaccounts], verbs: [get, list, watch]}
- {apiGroups: [apps], resources: [deployments, replicasets, statefulsets, daemonsets], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edit}
rules:
- {apiGroups: [""], resources: [pods, pods/exec, pods/log, services, configmaps, secrets, persistentvolumeclaims], verbs: [get, list, watch, create, update, patch, delete]}
- {apiGroups: [apps], resources: [deployments, replicasets, statefulsets], verbs: [get, list, watch, create, update, patch, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: erin-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: erin@example.com}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: erin-view, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: erin@example.com}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: payments, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: oidc:payments-dev}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-deployer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: ServiceAccount, name: deployer, namespace: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: shop-default-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: default, namespace: shop}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: platform-admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: oidc:platform}]
`;
