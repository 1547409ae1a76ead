/**
 * A deterministic generator of realistic audit.k8s.io/v1 Events at level Metadata, as a busy
 * cluster's log backend writes them (spec/k8s-audit.md §2, §5, §6, §8): mostly service
 * accounts, controllers and kubelets renewing leases, reading config and watching; a few
 * humans, anonymous health checks and failed authentications. The same seed gives the same
 * bytes, so runs of a benchmark compare like with like.
 *
 * Run as a script: `node dist/shared/demo/generateEvents.js N FILE [SEED]` writes N events to FILE.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

export const DEFAULT_SEED = 20260723;

export interface GenerateOptions {
  seed?: number;
  /** Mean request rate in cluster time; events per second come out a little higher (watches). */
  requestsPerSecond?: number;
  /** The first requestReceivedTimestamp, in microseconds since the epoch. */
  startMicros?: number;
  /**
   * Short-lived credentials: every request of a pod's service account comes from a new pod
   * with a new bound token (job pods, CI runners, per-request credentials).
   */
  churn?: boolean;
}

/** Writes `n` events, one JSON object per line, streaming with flat memory. */
export async function writeEventsFile(path: string, n: number, options: GenerateOptions = {}): Promise<{ events: number; bytes: number }> {
  const out = createWriteStream(path);
  const gen = new AuditEventGenerator(options);
  let bytes = 0;
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += gen.next() + '\n';
    if (chunk.length >= 1 << 20) {
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  bytes += Buffer.byteLength(chunk);
  out.end(chunk);
  await once(out, 'finish');
  return { events: n, bytes };
}

/** The first `n` events, as JSON lines without the newline. */
export function* eventLines(n: number, options: GenerateOptions = {}): Generator<string> {
  const gen = new AuditEventGenerator(options);
  for (let i = 0; i < n; i++) yield gen.next();
}

/** One webhook body: an EventList of the given serialized events. */
export function eventListBody(lines: readonly string[]): string {
  return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${lines.join(',')}]}`;
}

/** `n` events as EventList JSON bodies of `perBody` events each (the last may hold fewer). */
export function* eventListBodies(n: number, perBody: number, options: GenerateOptions = {}): Generator<string> {
  let batch: string[] = [];
  for (const line of eventLines(n, options)) {
    batch.push(line);
    if (batch.length === perBody) {
      yield eventListBody(batch);
      batch = [];
    }
  }
  if (batch.length > 0) yield eventListBody(batch);
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** sfc32, seeded through splitmix32: fast, small state, good enough for synthetic data. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const mix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.u32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Biased to the front of the list: a few names get most of the traffic. */
  skewed<T>(items: readonly T[], power = 2): T {
    return items[Math.floor(items.length * this.float() ** power)]!;
  }

  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  hex(chars: number): string {
    let s = '';
    while (s.length < chars) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, chars);
  }

  chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /** A random (version 4) lower-case UUID, as the apiserver makes auditIDs and object UIDs. */
  uuid(): string {
    const h = this.hex(32);
    const variant = '89ab'[this.int(4)];
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

class Weighted<T> {
  private readonly cumulative: number[] = [];
  private readonly items: T[] = [];
  private total = 0;

  constructor(entries: readonly (readonly [number, T])[]) {
    for (const [w, item] of entries) {
      if (w <= 0) continue;
      this.total += w;
      this.cumulative.push(this.total);
      this.items.push(item);
    }
  }

  pick(rng: Rng): T {
    const x = rng.float() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo]!;
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster: resources, namespaces, identities

interface Res {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

const RESOURCES: Record<string, Res> = {};
function defineResources(group: string, version: string, namespaced: string[], cluster: string[] = []): void {
  for (const r of namespaced) RESOURCES[group ? `${r}.${group}` : r] = { group, version, resource: r, namespaced: true };
  for (const r of cluster) RESOURCES[group ? `${r}.${group}` : r] = { group, version, resource: r, namespaced: false };
}
defineResources('', 'v1', ['pods', 'configmaps', 'secrets', 'services', 'endpoints', 'events', 'serviceaccounts', 'persistentvolumeclaims', 'resourcequotas'], ['nodes', 'namespaces', 'persistentvolumes']);
defineResources('apps', 'v1', ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'controllerrevisions']);
defineResources('coordination.k8s.io', 'v1', ['leases']);
defineResources('rbac.authorization.k8s.io', 'v1', ['roles', 'rolebindings'], ['clusterroles', 'clusterrolebindings']);
defineResources('batch', 'v1', ['jobs', 'cronjobs']);
defineResources('discovery.k8s.io', 'v1', ['endpointslices']);
defineResources('networking.k8s.io', 'v1', ['ingresses', 'networkpolicies'], ['ingressclasses']);
defineResources('events.k8s.io', 'v1', ['events']);
defineResources('policy', 'v1', ['poddisruptionbudgets']);
defineResources('autoscaling', 'v2', ['horizontalpodautoscalers']);
defineResources('storage.k8s.io', 'v1', [], ['storageclasses', 'volumeattachments', 'csinodes']);
defineResources('authentication.k8s.io', 'v1', [], ['tokenreviews']);
defineResources('authorization.k8s.io', 'v1', [], ['subjectaccessreviews', 'selfsubjectaccessreviews']);
defineResources('admissionregistration.k8s.io', 'v1', [], ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']);
defineResources('apiextensions.k8s.io', 'v1', [], ['customresourcedefinitions']);
defineResources('cert-manager.io', 'v1', ['certificates', 'certificaterequests']);
defineResources('argoproj.io', 'v1alpha1', ['applications']);
defineResources('monitoring.coreos.com', 'v1', ['servicemonitors', 'prometheusrules', 'podmonitors']);

function res(key: string): Res {
  const r = RESOURCES[key];
  if (!r) throw new Error(`generator: unknown resource ${key}`);
  return r;
}

const APP_NAMESPACES = [
  'default', 'team-a', 'team-b', 'team-c', 'payments', 'checkout', 'catalog', 'search', 'frontend', 'backend', 'orders',
  'notifications', 'data-pipeline', 'ml-serving', 'staging', 'sandbox',
];
const NAMESPACES = [
  'kube-system', 'kube-public', 'kube-node-lease', 'monitoring', 'logging', 'cert-manager', 'ingress-nginx', 'argocd',
  'external-dns', 'velero', 'gatekeeper-system', 'istio-system', 'vault', 'ci', ...APP_NAMESPACES,
];

const K8S_VERSION = 'v1.31.0';
const K8S_COMMIT = '9edcffc';
const componentAgent = (name: string, suffix = '') => `${name}/${K8S_VERSION} (linux/amd64) kubernetes/${K8S_COMMIT}${suffix}`;
const SA_GROUPS = (ns: string) => ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];
const POD_SUFFIX_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
/** Informers re-watch only every 5–10 minutes; most of a client's requests are gets and updates. */
const WATCH_SHARE = 0.25;
const actWeights = (acts: readonly Act[]) => new Weighted(acts.map((a) => [a[1] === 'watch' ? a[0] * WATCH_SHARE : a[0], a] as const));

const crbReason = (binding: string, role: string, subject: string) =>
  `RBAC: allowed by ClusterRoleBinding "${binding}" of ClusterRole "${role}" to ${subject}`;
const rbReason = (binding: string, ns: string, roleKind: 'Role' | 'ClusterRole', role: string, subject: string) =>
  `RBAC: allowed by RoleBinding "${binding}/${ns}" of ${roleKind} "${role}" to ${subject}`;
const saSubject = (sa: string, ns: string) => `ServiceAccount "${sa}/${ns}"`;
const DISCOVERY_REASON = crbReason('system:discovery', 'system:discovery', 'Group "system:authenticated"');
const PUBLIC_INFO_REASON = crbReason('system:public-info-viewer', 'system:public-info-viewer', 'Group "system:unauthenticated"');

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
/** An action an identity performs: weight, verb, resource key, where ('own' ns, 'any', or a namespace), subresource. */
type Act = readonly [number, Verb, string, string, string?];

interface Identity {
  user: Record<string, unknown>;
  sourceIPs: string[];
  userAgent: string;
  /** The authorization reason when allowed; null = this identity is denied (forbid, reason ""). */
  reasonFor(verb: Verb, r: Res, ns: string | undefined): string | null;
  /** Appended to request URIs of this client: `?timeout=10s` for clients with request timeouts. */
  timeout?: string;
}

interface Node {
  name: string;
  uid: string;
  ip: string;
  index: number;
  kubelet: Identity;
}

interface WorkloadSpec {
  ns: string;
  app: string;
  sa: string;
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  replicas: number;
  userAgent: string;
  /** The ClusterRoleBinding (or RoleBinding) reason its requests are allowed by. */
  reason: string;
  weight: number;
  acts: Act[];
  /** Leader-election lease `ns/name`, renewed by one replica. */
  lease?: string;
  leaseReason?: string;
  hostNetwork?: boolean;
  /** Requests outside these (verb:resource) are denied: an app running as `default` without a Role. */
  deniedExcept?: string[];
}

interface Workload {
  spec: WorkloadSpec;
  saUid: string;
  rsHash: string;
  pods: Pod[];
  acts: Weighted<Act>;
}

interface Pod {
  workload: Workload;
  name: string;
  uid: string;
  node: Node;
  ip: string;
  jti: string;
  tokenExpires: number;
  id: Identity;
}

interface Controller {
  name: string;
  uid: string;
  jti: string;
  tokenExpires: number;
  id: Identity;
  acts: Weighted<Act>;
}

interface Human {
  id: Identity;
  namespaces: string[] | 'all';
  readOnly: boolean;
  masters: boolean;
  reason: (ns: string | undefined) => string;
}

/** A request about to be audited. */
interface Req {
  id: Identity | null;
  verb: string;
  uri: string;
  ref?: Record<string, string>;
  code: number;
  /** Failure details of responseStatus: status, message, reason, details. */
  failure?: Record<string, unknown>;
  decision: 'allow' | 'forbid' | null;
  reason: string;
  annotations?: Record<string, string>;
  latency: number;
  /** µs until ResponseComplete for long-running requests (watch, log follow, exec). */
  longRunning?: number;
  /** A watch whose pre-window counterpart has been emitted already. */
  pairedWithOlder?: boolean;
}

const WORKLOADS: WorkloadSpec[] = [
  {
    ns: 'kube-system', app: 'coredns', sa: 'coredns', kind: 'Deployment', replicas: 2, weight: 2,
    userAgent: 'coredns/v0.0.0 (linux/amd64) kubernetes/$Format',
    reason: crbReason('system:coredns', 'system:coredns', saSubject('coredns', 'kube-system')),
    acts: [[3, 'watch', 'endpointslices.discovery.k8s.io', 'any'], [2, 'watch', 'services', 'any'], [1, 'watch', 'namespaces', 'any'], [1, 'list', 'endpointslices.discovery.k8s.io', 'any']],
  },
  {
    ns: 'kube-system', app: 'kube-proxy', sa: 'kube-proxy', kind: 'DaemonSet', replicas: 0, weight: 3, hostNetwork: true,
    userAgent: componentAgent('kube-proxy'),
    reason: crbReason('kubeadm:node-proxier', 'system:node-proxier', saSubject('kube-proxy', 'kube-system')),
    acts: [[3, 'watch', 'services', 'any'], [3, 'watch', 'endpointslices.discovery.k8s.io', 'any'], [1, 'get', 'nodes', 'any'], [1, 'list', 'services', 'any']],
  },
  {
    ns: 'kube-system', app: 'metrics-server', sa: 'metrics-server', kind: 'Deployment', replicas: 1, weight: 2,
    userAgent: 'metrics-server/v0.7.2 (linux/amd64) kubernetes/$Format',
    reason: crbReason('system:metrics-server', 'system:metrics-server', saSubject('metrics-server', 'kube-system')),
    acts: [[3, 'create', 'tokenreviews.authentication.k8s.io', 'any'], [3, 'create', 'subjectaccessreviews.authorization.k8s.io', 'any'], [1, 'watch', 'nodes', 'any'], [1, 'get', 'configmaps', 'kube-system']],
  },
  {
    ns: 'kube-system', app: 'cluster-autoscaler', sa: 'cluster-autoscaler', kind: 'Deployment', replicas: 1, weight: 2,
    userAgent: 'cluster-autoscaler/v1.31.0 (linux/amd64) kubernetes/$Format',
    reason: crbReason('cluster-autoscaler', 'cluster-autoscaler', saSubject('cluster-autoscaler', 'kube-system')),
    lease: 'kube-system/cluster-autoscaler',
    leaseReason: rbReason('cluster-autoscaler', 'kube-system', 'Role', 'cluster-autoscaler', saSubject('cluster-autoscaler', 'kube-system')),
    acts: [[2, 'list', 'pods', 'any'], [2, 'watch', 'pods', 'any'], [1, 'list', 'nodes', 'any'], [1, 'watch', 'poddisruptionbudgets.policy', 'any'], [1, 'get', 'configmaps', 'kube-system']],
  },
  {
    ns: 'kube-system', app: 'ebs-csi-controller', sa: 'ebs-csi-controller-sa', kind: 'Deployment', replicas: 2, weight: 1,
    userAgent: 'csi-attacher/v4.6.1 (linux/amd64) kubernetes/$Format',
    reason: crbReason('ebs-csi-attacher-binding', 'ebs-external-attacher-role', saSubject('ebs-csi-controller-sa', 'kube-system')),
    lease: 'kube-system/external-attacher-leader-ebs-csi-aws-com',
    leaseReason: rbReason('ebs-csi-leases-rolebinding', 'kube-system', 'Role', 'ebs-csi-leases-role', saSubject('ebs-csi-controller-sa', 'kube-system')),
    acts: [[2, 'watch', 'volumeattachments.storage.k8s.io', 'any'], [1, 'list', 'persistentvolumes', 'any'], [1, 'watch', 'csinodes.storage.k8s.io', 'any']],
  },
  {
    ns: 'monitoring', app: 'prometheus-k8s', sa: 'prometheus-k8s', kind: 'StatefulSet', replicas: 2, weight: 4,
    userAgent: 'Prometheus/2.54.1',
    reason: crbReason('prometheus-k8s', 'prometheus-k8s', saSubject('prometheus-k8s', 'monitoring')),
    acts: [[3, 'list', 'endpoints', 'any'], [3, 'watch', 'endpoints', 'any'], [2, 'list', 'pods', 'any'], [2, 'watch', 'pods', 'any'], [1, 'watch', 'services', 'any'], [2, 'get', 'configmaps', 'own']],
  },
  {
    ns: 'monitoring', app: 'prometheus-operator', sa: 'prometheus-operator', kind: 'Deployment', replicas: 1, weight: 2,
    userAgent: 'PrometheusOperator/0.76.1',
    reason: crbReason('prometheus-operator', 'prometheus-operator', saSubject('prometheus-operator', 'monitoring')),
    acts: [[2, 'watch', 'servicemonitors.monitoring.coreos.com', 'any'], [1, 'watch', 'prometheusrules.monitoring.coreos.com', 'any'], [2, 'get', 'secrets', 'own'], [1, 'update', 'secrets', 'own'], [2, 'get', 'statefulsets.apps', 'own'], [1, 'update', 'statefulsets.apps', 'own'], [1, 'get', 'configmaps', 'own']],
  },
  {
    ns: 'monitoring', app: 'kube-state-metrics', sa: 'kube-state-metrics', kind: 'Deployment', replicas: 1, weight: 2,
    userAgent: 'kube-state-metrics/v2.13.0 (linux/amd64) kubernetes/$Format',
    reason: crbReason('kube-state-metrics', 'kube-state-metrics', saSubject('kube-state-metrics', 'monitoring')),
    acts: [[2, 'watch', 'pods', 'any'], [1, 'watch', 'deployments.apps', 'any'], [1, 'watch', 'replicasets.apps', 'any'], [1, 'watch', 'nodes', 'any'], [1, 'list', 'jobs.batch', 'any'], [1, 'watch', 'secrets', 'any'], [1, 'list', 'configmaps', 'any']],
  },
  {
    ns: 'monitoring', app: 'grafana', sa: 'grafana', kind: 'Deployment', replicas: 1, weight: 1,
    userAgent: 'OpenAPI-Generator/29.0.0/python',
    reason: crbReason('grafana-clusterrolebinding', 'grafana-clusterrole', saSubject('grafana', 'monitoring')),
    acts: [[2, 'watch', 'configmaps', 'any'], [1, 'watch', 'secrets', 'any'], [1, 'list', 'configmaps', 'any']],
  },
  {
    ns: 'logging', app: 'fluent-bit', sa: 'fluent-bit', kind: 'DaemonSet', replicas: 0, weight: 3,
    userAgent: 'Fluent-Bit',
    reason: crbReason('fluent-bit', 'fluent-bit', saSubject('fluent-bit', 'logging')),
    acts: [[6, 'get', 'pods', 'any'], [1, 'get', 'namespaces', 'any']],
  },
  {
    ns: 'cert-manager', app: 'cert-manager', sa: 'cert-manager', kind: 'Deployment', replicas: 1, weight: 2,
    userAgent: 'cert-manager-controller/v1.15.3 (linux/amd64) cert-manager/bc1e2ab68ea6e8a5e6bdb26e8f7ee6c4ee3a23c3',
    reason: crbReason('cert-manager-controller-certificates', 'cert-manager-controller-certificates', saSubject('cert-manager', 'cert-manager')),
    lease: 'kube-system/cert-manager-controller',
    leaseReason: rbReason('cert-manager:leaderelection', 'kube-system', 'Role', 'cert-manager:leaderelection', saSubject('cert-manager', 'cert-manager')),
    acts: [[2, 'watch', 'certificates.cert-manager.io', 'any'], [1, 'watch', 'certificaterequests.cert-manager.io', 'any'], [2, 'get', 'secrets', 'any'], [1, 'update', 'certificates.cert-manager.io', 'any', 'status'], [1, 'watch', 'secrets', 'any']],
  },
  {
    ns: 'cert-manager', app: 'cert-manager-cainjector', sa: 'cert-manager-cainjector', kind: 'Deployment', replicas: 1, weight: 1,
    userAgent: 'cert-manager-cainjector/v1.15.3 (linux/amd64) cert-manager/bc1e2ab68ea6e8a5e6bdb26e8f7ee6c4ee3a23c3',
    reason: crbReason('cert-manager-cainjector', 'cert-manager-cainjector', saSubject('cert-manager-cainjector', 'cert-manager')),
    lease: 'kube-system/cert-manager-cainjector-leader-election',
    leaseReason: rbReason('cert-manager-cainjector:leaderelection', 'kube-system', 'Role', 'cert-manager-cainjector:leaderelection', saSubject('cert-manager-cainjector', 'cert-manager')),
    acts: [[2, 'watch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io', 'any'], [2, 'watch', 'customresourcedefinitions.apiextensions.k8s.io', 'any'], [1, 'get', 'secrets', 'own']],
  },
  {
    ns: 'ingress-nginx', app: 'ingress-nginx-controller', sa: 'ingress-nginx', kind: 'Deployment', replicas: 2, weight: 2,
    userAgent: 'nginx-ingress-controller/v1.11.2 (linux/amd64) ingress-nginx/46e76e5916813cfca2a9b0bfdc34b69a0000f6b9',
    reason: crbReason('ingress-nginx', 'ingress-nginx', saSubject('ingress-nginx', 'ingress-nginx')),
    lease: 'ingress-nginx/ingress-nginx-leader',
    leaseReason: rbReason('ingress-nginx', 'ingress-nginx', 'Role', 'ingress-nginx', saSubject('ingress-nginx', 'ingress-nginx')),
    acts: [[2, 'watch', 'ingresses.networking.k8s.io', 'any'], [2, 'watch', 'endpointslices.discovery.k8s.io', 'any'], [1, 'watch', 'secrets', 'any'], [1, 'get', 'configmaps', 'own'], [1, 'update', 'ingresses.networking.k8s.io', 'any', 'status']],
  },
  {
    ns: 'argocd', app: 'argocd-application-controller', sa: 'argocd-application-controller', kind: 'StatefulSet', replicas: 1, weight: 3,
    userAgent: 'argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format',
    reason: crbReason('argocd-application-controller', 'argocd-application-controller', saSubject('argocd-application-controller', 'argocd')),
    acts: [[2, 'list', 'deployments.apps', 'any'], [2, 'watch', 'deployments.apps', 'any'], [1, 'watch', 'services', 'any'], [1, 'watch', 'configmaps', 'any'], [2, 'get', 'applications.argoproj.io', 'own'], [1, 'patch', 'applications.argoproj.io', 'own'], [1, 'patch', 'deployments.apps', 'any'], [1, 'get', 'rolebindings.rbac.authorization.k8s.io', 'any'], [1, 'patch', 'configmaps', 'any']],
  },
  {
    ns: 'argocd', app: 'argocd-server', sa: 'argocd-server', kind: 'Deployment', replicas: 2, weight: 0.5,
    userAgent: 'argocd-server/v0.0.0 (linux/amd64) kubernetes/$Format',
    reason: crbReason('argocd-server', 'argocd-server', saSubject('argocd-server', 'argocd')),
    acts: [[3, 'get', 'applications.argoproj.io', 'own'], [1, 'list', 'applications.argoproj.io', 'own'], [1, 'get', 'secrets', 'own'], [1, 'get', 'configmaps', 'own']],
  },
  {
    ns: 'external-dns', app: 'external-dns', sa: 'external-dns', kind: 'Deployment', replicas: 1, weight: 0.5,
    userAgent: 'external-dns/v0.14.2',
    reason: crbReason('external-dns-viewer', 'external-dns', saSubject('external-dns', 'external-dns')),
    acts: [[1, 'list', 'services', 'any'], [1, 'list', 'ingresses.networking.k8s.io', 'any'], [1, 'list', 'nodes', 'any']],
  },
  {
    ns: 'gatekeeper-system', app: 'gatekeeper-controller-manager', sa: 'gatekeeper-admin', kind: 'Deployment', replicas: 3, weight: 1,
    userAgent: 'gatekeeper/v3.17.0 (linux/amd64) 1f81ba5/2024-09-09T17:18:53Z',
    reason: crbReason('gatekeeper-manager-rolebinding', 'gatekeeper-manager-role', saSubject('gatekeeper-admin', 'gatekeeper-system')),
    lease: 'gatekeeper-system/gatekeeper-leader-election',
    leaseReason: rbReason('gatekeeper-manager-rolebinding', 'gatekeeper-system', 'Role', 'gatekeeper-manager-role', saSubject('gatekeeper-admin', 'gatekeeper-system')),
    acts: [[2, 'watch', 'namespaces', 'any'], [1, 'get', 'validatingwebhookconfigurations.admissionregistration.k8s.io', 'any'], [1, 'update', 'validatingwebhookconfigurations.admissionregistration.k8s.io', 'any'], [1, 'create', 'events', 'own']],
  },
  {
    ns: 'istio-system', app: 'istiod', sa: 'istiod', kind: 'Deployment', replicas: 2, weight: 2,
    userAgent: 'pilot-discovery/1.23.2',
    reason: crbReason('istiod-clusterrole-istio-system', 'istiod-clusterrole-istio-system', saSubject('istiod', 'istio-system')),
    lease: 'istio-system/istio-namespace-controller-election',
    leaseReason: rbReason('istiod', 'istio-system', 'Role', 'istiod', saSubject('istiod', 'istio-system')),
    acts: [[2, 'watch', 'pods', 'any'], [2, 'watch', 'endpointslices.discovery.k8s.io', 'any'], [1, 'watch', 'services', 'any'], [1, 'get', 'configmaps', 'any'], [1, 'update', 'configmaps', 'any'], [1, 'create', 'tokenreviews.authentication.k8s.io', 'any']],
  },
  {
    ns: 'vault', app: 'vault', sa: 'vault', kind: 'StatefulSet', replicas: 3, weight: 1,
    userAgent: 'vault/1.17.6',
    reason: rbReason('vault-discovery-rolebinding', 'vault', 'Role', 'vault-discovery-role', saSubject('vault', 'vault')),
    acts: [[2, 'patch', 'pods', 'own'], [1, 'get', 'pods', 'own'], [2, 'create', 'tokenreviews.authentication.k8s.io', 'any']],
  },
  {
    ns: 'velero', app: 'velero', sa: 'velero', kind: 'Deployment', replicas: 1, weight: 0.5,
    userAgent: 'velero-server/v1.14.1 (linux/amd64) 8afe3cea8b7058f7baaf447b9fb407312c40d2da',
    reason: crbReason('velero', 'cluster-admin', saSubject('velero', 'velero')),
    acts: [[1, 'list', 'persistentvolumes', 'any'], [1, 'list', 'namespaces', 'any'], [1, 'get', 'configmaps', 'own']],
  },
  {
    ns: 'ci', app: 'gitlab-runner', sa: 'gitlab-runner', kind: 'Deployment', replicas: 1, weight: 1,
    userAgent: 'gitlab-runner/17.4.0 (17-4-stable; go1.22.7; linux/amd64)',
    reason: rbReason('gitlab-runner', 'ci', 'Role', 'gitlab-runner', saSubject('gitlab-runner', 'ci')),
    acts: [[2, 'get', 'pods', 'own'], [1, 'create', 'pods', 'own'], [1, 'delete', 'pods', 'own'], [1, 'create', 'secrets', 'own'], [1, 'delete', 'secrets', 'own'], [1, 'create', 'pods', 'own', 'attach']],
  },
];

/** App workloads: each app namespace runs a few, some with leader election, some without any Role. */
const APP_NAMES = ['api', 'worker', 'web', 'consumer', 'gateway', 'scheduler', 'cache-warmer', 'indexer'];
const APP_AGENTS = [
  'Go-http-client/2.0',
  'kubernetes-client-java/19.0.0',
  'OpenAPI-Generator/29.0.0/python',
  `{app}/v0.0.0 (linux/amd64) kubernetes/$Format`,
];

const CONTROLLERS: [string, Act[]][] = [
  ['replicaset-controller', [[4, 'update', 'replicasets.apps', 'any', 'status'], [2, 'watch', 'pods', 'any'], [1, 'watch', 'replicasets.apps', 'any']]],
  ['deployment-controller', [[3, 'update', 'deployments.apps', 'any', 'status'], [1, 'update', 'replicasets.apps', 'any'], [1, 'watch', 'deployments.apps', 'any']]],
  ['endpointslice-controller', [[4, 'update', 'endpointslices.discovery.k8s.io', 'any'], [1, 'create', 'endpointslices.discovery.k8s.io', 'any'], [1, 'watch', 'services', 'any']]],
  ['endpoint-controller', [[3, 'update', 'endpoints', 'any'], [1, 'watch', 'pods', 'any']]],
  ['daemon-set-controller', [[2, 'update', 'daemonsets.apps', 'any', 'status'], [1, 'list', 'controllerrevisions.apps', 'any']]],
  ['statefulset-controller', [[2, 'update', 'statefulsets.apps', 'any', 'status'], [1, 'list', 'controllerrevisions.apps', 'any']]],
  ['job-controller', [[2, 'update', 'jobs.batch', 'any', 'status'], [1, 'patch', 'pods', 'any'], [1, 'create', 'pods', 'any'], [1, 'watch', 'jobs.batch', 'any']]],
  ['cronjob-controller', [[2, 'list', 'jobs.batch', 'any'], [1, 'create', 'jobs.batch', 'any'], [1, 'update', 'cronjobs.batch', 'any', 'status']]],
  ['ttl-after-finished-controller', [[1, 'delete', 'jobs.batch', 'any'], [1, 'get', 'jobs.batch', 'any']]],
  ['generic-garbage-collector', [[3, 'watch', 'secrets', 'any'], [2, 'list', 'configmaps', 'any'], [2, 'watch', 'rolebindings.rbac.authorization.k8s.io', 'any'], [1, 'get', 'replicasets.apps', 'any'], [1, 'delete', 'pods', 'any']]],
  ['resourcequota-controller', [[2, 'list', 'pods', 'any'], [1, 'update', 'resourcequotas', 'any', 'status'], [1, 'watch', 'persistentvolumeclaims', 'any']]],
  ['horizontal-pod-autoscaler', [[3, 'get', 'deployments.apps', 'any', 'scale'], [2, 'update', 'horizontalpodautoscalers.autoscaling', 'any', 'status'], [2, 'list', 'pods', 'any']]],
  ['node-controller', [[3, 'get', 'nodes', 'any'], [1, 'patch', 'nodes', 'any'], [1, 'list', 'pods', 'any']]],
  ['disruption-controller', [[2, 'update', 'poddisruptionbudgets.policy', 'any', 'status'], [1, 'watch', 'poddisruptionbudgets.policy', 'any']]],
  ['namespace-controller', [[1, 'list', 'namespaces', 'any'], [1, 'get', 'namespaces', 'any']]],
  ['root-ca-cert-publisher', [[1, 'update', 'configmaps', 'any'], [2, 'get', 'configmaps', 'any']]],
  ['clusterrole-aggregation-controller', [[1, 'update', 'clusterroles.rbac.authorization.k8s.io', 'any'], [1, 'watch', 'clusterroles.rbac.authorization.k8s.io', 'any']]],
  ['pvc-protection-controller', [[1, 'patch', 'persistentvolumeclaims', 'any'], [1, 'list', 'pods', 'any']]],
];

const CLUSTER_ROLES = ['cluster-admin', 'admin', 'edit', 'view', 'system:node', 'system:discovery', 'system:basic-user', 'system:kube-scheduler', 'system:kube-controller-manager', 'system:controller:replicaset-controller', 'system:aggregate-to-edit', 'system:aggregate-to-view', 'prometheus-k8s', 'cert-manager-controller-certificates', 'argocd-application-controller'];

/** Names each (resource, namespace) has, most-used first; pods and leases come from the model. */
function namePoolFor(rng: Rng, r: Res, ns: string | undefined): string[] {
  const n = (k: number, make: (i: number) => string) => Array.from({ length: k }, (_, i) => make(i));
  const base = ns ?? 'cluster';
  switch (r.resource) {
    case 'configmaps':
      return ['kube-root-ca.crt', ...n(6, (i) => `${base}-${['config', 'env', 'settings', 'rules', 'dashboards', 'feature-flags'][i]}`), 'istio-ca-root-cert'];
    case 'secrets':
      return [...n(5, (i) => `${base}-${['tls', 'db-credentials', 'api-token', 'registry-pull', 'webhook-cert'][i]}`), ...n(6, () => `sh.helm.release.v1.${base}.v${rng.between(1, 40)}`)];
    case 'services':
    case 'endpoints':
      return n(5, (i) => `${base}-${['api', 'web', 'grpc', 'metrics', 'headless'][i]}`);
    case 'endpointslices':
      return n(6, (i) => `${base}-${['api', 'web', 'grpc', 'metrics', 'headless', 'api'][i]}-${rng.chars(POD_SUFFIX_CHARS, 5)}`);
    case 'roles':
    case 'rolebindings':
      return n(4, (i) => `${base}-${['edit', 'view', 'deployer', 'leader-election'][i]}`);
    case 'clusterroles':
    case 'clusterrolebindings':
      return CLUSTER_ROLES;
    case 'namespaces':
      return NAMESPACES;
    case 'jobs':
      return n(6, () => `${base}-nightly-report-${rng.between(29187000, 29187999)}`);
    case 'cronjobs':
      return [`${base}-nightly-report`, `${base}-cleanup`];
    case 'persistentvolumeclaims':
      return n(3, (i) => `data-${base}-${i}`);
    case 'applications':
      return APP_NAMESPACES.map((a) => `${a}-app`);
    default:
      return n(4, (i) => `${base}-${r.resource.replace(/s$/, '')}-${i}`);
  }
}

/** A Go time.Duration as `7m9s` / `5m0s`. */
function goDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  return m > 0 ? `${m}m${seconds % 60}s` : `${seconds}s`;
}

const DEFAULT_START = Date.UTC(2026, 6, 23, 14, 47, 51) * 1000 + 123456;

/** The stateful generator: call `next()` for each event line, in log order. */
export class AuditEventGenerator {
  private readonly rng: Rng;
  private readonly meanGap: number;
  private readonly churn: boolean;
  private readonly start: number;
  private now: number;
  private rv = 48_213_907;
  private readonly queue: Req[] = [];
  private readonly pendingComplete: { at: number; line: string }[] = [];
  private readonly objects = new Map<string, { uid: string; rv: number }>();
  private readonly namePools = new Map<string, string[]>();
  private readonly recentEvents: { ns: string; name: string }[] = [];
  private secondCache = { second: -1, prefix: '' };

  private readonly nodes: Node[] = [];
  private readonly controlPlane: Node[] = [];
  private readonly workloads: Workload[] = [];
  private readonly podsByNs = new Map<string, Pod[]>();
  private readonly allPods: Pod[] = [];
  private readonly controllers: Controller[] = [];
  private readonly humans: Human[] = [];
  private readonly kcm: Identity;
  private readonly scheduler: Identity;
  private readonly leaderLeases: { ns: string; name: string; holder: () => Identity; standby: () => Identity; reason: string }[] = [];
  private readonly scenarios: Weighted<() => void>;
  private readonly workloadPick: Weighted<Workload>;

  constructor(options: GenerateOptions = {}) {
    this.rng = new Rng(options.seed ?? DEFAULT_SEED);
    this.meanGap = 1e6 / (options.requestsPerSecond ?? 3500);
    this.churn = options.churn ?? false;
    this.now = options.startMicros ?? DEFAULT_START;
    this.start = this.now;
    const rng = this.rng;

    for (let i = 1; i <= 3; i++) this.controlPlane.push(this.makeNode(`cp-${i}`, `10.0.0.${10 + i}`, 0));
    for (let i = 1; i <= 48; i++) this.nodes.push(this.makeNode(`node-${i}`, `10.0.${1 + (i % 3)}.${20 + i}`, i));

    const x509 = (username: string, groups: string[]) => ({
      username,
      groups,
      extra: { 'authentication.kubernetes.io/credential-id': [`X509SHA256=${rng.hex(64)}`] },
    });
    const kcmReason = crbReason('system:kube-controller-manager', 'system:kube-controller-manager', 'User "system:kube-controller-manager"');
    this.kcm = {
      user: x509('system:kube-controller-manager', ['system:authenticated']),
      sourceIPs: [this.controlPlane[0]!.ip],
      userAgent: componentAgent('kube-controller-manager'),
      reasonFor: () => kcmReason,
    };
    const schedReason = crbReason('system:kube-scheduler', 'system:kube-scheduler', 'User "system:kube-scheduler"');
    this.scheduler = {
      user: x509('system:kube-scheduler', ['system:authenticated']),
      sourceIPs: [this.controlPlane[0]!.ip],
      userAgent: componentAgent('kube-scheduler', '/scheduler'),
      reasonFor: () => schedReason,
    };

    // Leader election in kube-system: the holder updates, the standbys on the other control-plane nodes get.
    const cpIdentity = (base: Identity, cp: Node, agentName: string, reason: string): Identity => ({
      ...base,
      sourceIPs: [cp.ip],
      userAgent: componentAgent(agentName, '/leader-election'),
      reasonFor: () => reason,
    });
    const kcmLock = rbReason('system::leader-locking-kube-controller-manager', 'kube-system', 'Role', 'system::leader-locking-kube-controller-manager', 'User "system:kube-controller-manager"');
    const schedLock = rbReason('system::leader-locking-kube-scheduler', 'kube-system', 'Role', 'system::leader-locking-kube-scheduler', 'User "system:kube-scheduler"');
    const kcmLeader = cpIdentity(this.kcm, this.controlPlane[0]!, 'kube-controller-manager', kcmLock);
    const kcmStandby = [1, 2].map((i) => cpIdentity(this.kcm, this.controlPlane[i]!, 'kube-controller-manager', kcmLock));
    const schedLeader = cpIdentity(this.scheduler, this.controlPlane[1]!, 'kube-scheduler', schedLock);
    const schedStandby = [0, 2].map((i) => cpIdentity(this.scheduler, this.controlPlane[i]!, 'kube-scheduler', schedLock));
    this.leaderLeases.push(
      { ns: 'kube-system', name: 'kube-controller-manager', holder: () => kcmLeader, standby: () => rng.pick(kcmStandby), reason: kcmLock },
      { ns: 'kube-system', name: 'kube-scheduler', holder: () => schedLeader, standby: () => rng.pick(schedStandby), reason: schedLock },
    );

    for (const spec of [...WORKLOADS, ...this.appWorkloads()]) this.addWorkload(spec);
    for (const [name, acts] of CONTROLLERS) this.controllers.push(this.makeController(name, acts));
    this.addHumans();
    this.workloadPick = new Weighted(this.workloads.map((w) => [w.spec.weight, w] as const));

    this.scenarios = new Weighted<() => void>([
      [15, () => this.nodeLeaseRenew()],
      [13, () => this.leaderLeaseRenew()],
      [5, () => this.leaderLeaseStandby()],
      [22, () => this.workloadRequest()],
      [12, () => this.controllerRequest()],
      [11, () => this.kubeletRequest()],
      [3, () => this.controlPlaneRequest()],
      [2.5, () => this.humanRequest()],
      [1.5, () => this.discovery()],
      [3, () => this.healthCheck()],
      [0.25, () => this.failedAuthentication()],
      [0.35, () => this.podChurn()],
    ]);
  }

  /** The next event, as one line of JSON. */
  next(): string {
    for (;;) {
      if (this.queue.length === 0) this.scenarios.pick(this.rng)();
      const top = this.pendingComplete[0];
      if (top && top.at <= this.now) {
        heapPop(this.pendingComplete);
        return top.line;
      }
      const req = this.queue.shift();
      if (!req) continue;
      this.now += Math.max(1, Math.round(this.rng.exp(this.meanGap)));
      return this.emit(req);
    }
  }

  // --- model construction -------------------------------------------------------------------

  private makeNode(name: string, ip: string, index: number): Node {
    const uid = this.rng.uuid();
    const kubelet: Identity = {
      user: {
        username: `system:node:${name}`,
        groups: ['system:nodes', 'system:authenticated'],
        extra: { 'authentication.kubernetes.io/credential-id': [`X509SHA256=${this.rng.hex(64)}`] },
      },
      sourceIPs: [ip],
      userAgent: componentAgent('kubelet'),
      // The Node authorizer allows with an empty reason (spec/k8s-audit.md §8.1).
      reasonFor: () => '',
      timeout: '10s',
    };
    return { name, uid, ip, index, kubelet };
  }

  private appWorkloads(): WorkloadSpec[] {
    const rng = this.rng;
    const specs: WorkloadSpec[] = [];
    for (const ns of APP_NAMESPACES) {
      const count = rng.between(2, 3);
      const names = [...APP_NAMES].sort(() => rng.float() - 0.5).slice(0, count);
      for (const app of names) {
        const asDefault = rng.chance(0.25);
        const sa = asDefault ? 'default' : app;
        const agent = rng.pick(APP_AGENTS).replace('{app}', app);
        const leader = app === 'worker' || app === 'scheduler' || app === 'consumer';
        const reason = rbReason(app, ns, 'Role', app, saSubject(sa, ns));
        specs.push({
          ns, app, sa, kind: 'Deployment', replicas: rng.between(2, 5), weight: asDefault ? 0.15 : 0.35, userAgent: agent, reason,
          acts: [[4, 'get', 'configmaps', 'own'], [2, 'get', 'secrets', 'own'], [1, 'watch', 'configmaps', 'own'], [1, 'list', 'pods', 'own']],
          lease: leader && !asDefault ? `${ns}/${app}-leader` : undefined,
          leaseReason: reason,
          deniedExcept: asDefault ? ['get:configmaps'] : undefined,
        });
      }
    }
    return specs;
  }

  private addWorkload(spec: WorkloadSpec): void {
    const rng = this.rng;
    const w: Workload = {
      spec,
      saUid: rng.uuid(),
      rsHash: rng.chars(POD_SUFFIX_CHARS, 10),
      pods: [],
      acts: actWeights(spec.acts),
    };
    const replicas = spec.kind === 'DaemonSet' ? this.nodes.length : spec.replicas;
    for (let i = 0; i < replicas; i++) {
      const node = spec.kind === 'DaemonSet' ? this.nodes[i]! : rng.pick(this.nodes);
      w.pods.push(this.makePod(w, node, spec.kind === 'StatefulSet' ? `${spec.app}-${i}` : undefined));
    }
    this.workloads.push(w);
    let list = this.podsByNs.get(spec.ns);
    if (!list) this.podsByNs.set(spec.ns, (list = []));
    list.push(...w.pods);
    this.allPods.push(...w.pods);
    if (spec.lease) {
      const [ns, name] = spec.lease.split('/') as [string, string];
      this.leaderLeases.push({
        ns,
        name,
        holder: () => this.podIdentity(w.pods[0]!),
        standby: () => this.podIdentity(rng.pick(w.pods)),
        reason: spec.leaseReason ?? spec.reason,
      });
    }
  }

  private makePod(w: Workload, node: Node, fixedName?: string): Pod {
    const rng = this.rng;
    const spec = w.spec;
    const name =
      fixedName ??
      (spec.kind === 'DaemonSet' ? `${spec.app}-${rng.chars(POD_SUFFIX_CHARS, 5)}` : `${spec.app}-${w.rsHash}-${rng.chars(POD_SUFFIX_CHARS, 5)}`);
    const pod: Pod = {
      workload: w,
      name,
      uid: rng.uuid(),
      node,
      ip: spec.hostNetwork ? node.ip : `10.244.${node.index}.${rng.between(2, 254)}`,
      jti: '',
      // Tokens are refreshed at 80% of their life; start each pod at a random point of it.
      tokenExpires: this.now + rng.int(600e6),
      id: undefined as unknown as Identity,
    };
    this.objects.set(`/pods/${spec.ns}/${name}`, { uid: pod.uid, rv: this.rv - rng.int(100000) });
    this.issuePodToken(pod, false);
    return pod;
  }

  /** A new bound token for the pod: kubelet's TokenRequest, then the pod's requests carry its JTI. */
  private issuePodToken(pod: Pod, audited: boolean): void {
    const spec = pod.workload.spec;
    pod.jti = this.rng.uuid();
    const denied = spec.deniedExcept;
    pod.id = {
      user: {
        username: `system:serviceaccount:${spec.ns}:${spec.sa}`,
        uid: pod.workload.saUid,
        groups: SA_GROUPS(spec.ns),
        extra: {
          'authentication.kubernetes.io/credential-id': [`JTI=${pod.jti}`],
          'authentication.kubernetes.io/node-name': [pod.node.name],
          'authentication.kubernetes.io/node-uid': [pod.node.uid],
          'authentication.kubernetes.io/pod-name': [pod.name],
          'authentication.kubernetes.io/pod-uid': [pod.uid],
        },
      },
      sourceIPs: [pod.ip],
      userAgent: spec.userAgent,
      reasonFor: denied
        ? (verb, r) => (denied.includes(`${verb}:${r.resource}`) ? crbReason('system:basic-user', 'system:basic-user', 'Group "system:authenticated"') : null)
        : () => spec.reason,
    };
    if (audited) {
      const sa = res('serviceaccounts');
      this.queue.push({
        id: pod.node.kubelet,
        verb: 'create',
        uri: `/api/v1/namespaces/${spec.ns}/serviceaccounts/${spec.sa}/token`,
        ref: this.ref(sa, spec.ns, spec.sa, 'token', false),
        code: 201,
        decision: 'allow',
        reason: '',
        annotations: { 'authentication.kubernetes.io/issued-credential-id': `JTI=${pod.jti}` },
        latency: this.latency(2000, 6000),
      });
    }
    pod.tokenExpires = this.now + 480e6 + this.rng.int(120e6);
  }

  private podIdentity(pod: Pod): Identity {
    if (this.churn) {
      // A pod of its own for this one request, with a token of its own.
      pod.name = `${pod.workload.spec.app}-${this.rng.hex(10)}`;
      pod.uid = this.rng.uuid();
      this.issuePodToken(pod, true);
    } else if (this.now > pod.tokenExpires) this.issuePodToken(pod, true);
    return pod.id;
  }

  private makeController(name: string, acts: Act[]): Controller {
    const rng = this.rng;
    const c: Controller = {
      name,
      uid: rng.uuid(),
      jti: '',
      tokenExpires: 0,
      id: undefined as unknown as Identity,
      acts: actWeights(acts),
    };
    this.renewControllerToken(c, false);
    c.tokenExpires = this.now + rng.int(3600e6);
    return c;
  }

  /** kube-controller-manager mints each controller's token with a TokenRequest (--use-service-account-credentials). */
  private renewControllerToken(c: Controller, audited: boolean): void {
    c.jti = this.rng.uuid();
    const reason = crbReason(`system:controller:${c.name}`, `system:controller:${c.name}`, saSubject(c.name, 'kube-system'));
    c.id = {
      user: {
        username: `system:serviceaccount:kube-system:${c.name}`,
        uid: c.uid,
        groups: SA_GROUPS('kube-system'),
        extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${c.jti}`] },
      },
      sourceIPs: [this.controlPlane[0]!.ip],
      userAgent: componentAgent('kube-controller-manager', `/system:serviceaccount:kube-system:${c.name}`),
      reasonFor: () => reason,
    };
    if (audited) {
      this.queue.push({
        id: this.kcm,
        verb: 'create',
        uri: `/api/v1/namespaces/kube-system/serviceaccounts/${c.name}/token`,
        ref: this.ref(res('serviceaccounts'), 'kube-system', c.name, 'token', false),
        code: 201,
        decision: 'allow',
        reason: this.kcm.reasonFor('create', res('serviceaccounts'), 'kube-system')!,
        annotations: { 'authentication.kubernetes.io/issued-credential-id': `JTI=${c.jti}` },
        latency: this.latency(2000, 6000),
      });
    }
    c.tokenExpires = this.now + 2880e6 + this.rng.int(600e6);
  }

  private addHumans(): void {
    const rng = this.rng;
    const oidc = (email: string, groups: string[]) => ({
      username: email,
      groups: [...groups, 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${rng.uuid()}`] },
    });
    const agents = [componentAgent('kubectl').replace('linux/amd64', 'darwin/arm64'), componentAgent('kubectl'), 'k9s/v0.32.5 (darwin/arm64) kubernetes/$Format'];
    const person = (email: string, groups: string[], ip: string, namespaces: string[] | 'all', readOnly: boolean, reason: (ns: string | undefined) => string): Human => ({
      id: { user: oidc(email, groups), sourceIPs: [ip], userAgent: rng.pick(agents), reasonFor: () => '' },
      namespaces,
      readOnly,
      masters: false,
      reason,
    });
    this.humans.push(
      person('alice@example.com', ['oidc:team-a'], '203.0.113.24', ['team-a', 'team-b', 'frontend'], false, (ns) => rbReason('team-a-edit', ns ?? '', 'ClusterRole', 'edit', 'Group "oidc:team-a"')),
      person('bob@example.com', ['oidc:platform'], '203.0.113.57', 'all', false, () => crbReason('platform-admins', 'cluster-admin', 'Group "oidc:platform"')),
      person('carol@example.com', ['oidc:data'], '198.51.100.14', ['data-pipeline', 'ml-serving', 'search'], false, (ns) => rbReason('data-edit', ns ?? '', 'ClusterRole', 'edit', 'User "carol@example.com"')),
      person('dave@example.com', ['oidc:payments-oncall'], '198.51.100.80', ['payments', 'checkout', 'orders'], true, (ns) => rbReason('oncall-view', ns ?? '', 'ClusterRole', 'view', 'Group "oidc:payments-oncall"')),
    );
    this.humans.push({
      id: {
        user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': [`X509SHA256=${rng.hex(64)}`] } },
        sourceIPs: ['10.8.0.6'],
        userAgent: componentAgent('kubectl'),
        reasonFor: () => '',
      },
      namespaces: 'all',
      readOnly: false,
      masters: true,
      reason: () => '',
    });
  }

  // --- scenarios ----------------------------------------------------------------------------

  private nodeLeaseRenew(): void {
    const node = this.rng.chance(0.06) ? this.rng.pick(this.controlPlane) : this.rng.pick(this.nodes);
    const lease = res('leases.coordination.k8s.io');
    const verb: Verb = this.rng.chance(0.08) ? 'get' : 'update';
    this.queue.push(this.resourceRequest(node.kubelet, verb, lease, 'kube-node-lease', node.name, undefined, '', '?timeout=10s'));
  }

  private leaderLeaseRenew(): void {
    const l = this.rng.skewed(this.leaderLeases, 1.5);
    const lease = res('leases.coordination.k8s.io');
    const q = l.ns === 'kube-system' && (l.name === 'kube-controller-manager' || l.name === 'kube-scheduler') ? '?timeout=5s' : '';
    // client-go renews with a Get then an Update, unless it still holds the record it wrote last.
    if (this.rng.chance(0.3)) this.queue.push(this.resourceRequest(l.holder(), 'get', lease, l.ns, l.name, undefined, l.reason, q));
    this.queue.push(this.resourceRequest(l.holder(), 'update', lease, l.ns, l.name, undefined, l.reason, q));
  }

  private leaderLeaseStandby(): void {
    const l = this.rng.skewed(this.leaderLeases, 1.5);
    const q = l.ns === 'kube-system' && (l.name === 'kube-controller-manager' || l.name === 'kube-scheduler') ? '?timeout=5s' : '';
    this.queue.push(this.resourceRequest(l.standby(), 'get', res('leases.coordination.k8s.io'), l.ns, l.name, undefined, l.reason, q));
  }

  private workloadRequest(): void {
    const w = this.workloadPick.pick(this.rng);
    const pod = this.rng.pick(w.pods);
    const [, verb, key, where, sub] = w.acts.pick(this.rng);
    const r = res(key);
    const id = this.podIdentity(pod);
    const ns = this.namespaceFor(r, verb, where, w.spec.ns);
    const reason = id.reasonFor(verb, r, ns);
    this.queue.push(this.resourceRequest(id, verb, r, ns, undefined, sub, reason));
  }

  private controllerRequest(): void {
    const c = this.rng.skewed(this.controllers, 1.6);
    if (this.now > c.tokenExpires) this.renewControllerToken(c, true);
    const [, verb, key, where, sub] = c.acts.pick(this.rng);
    const r = res(key);
    const ns = this.namespaceFor(r, verb, where, 'kube-system');
    if (verb === 'create' && r.resource === 'pods') {
      this.queue.push(this.podCreate(c.id, ns!, c.id.reasonFor(verb, r, ns)!));
      return;
    }
    this.queue.push(this.resourceRequest(c.id, verb, r, ns, undefined, sub, c.id.reasonFor(verb, r, ns)));
    // Controllers report what they did as Events.
    if (verb !== 'get' && verb !== 'list' && verb !== 'watch' && this.rng.chance(0.25)) this.queue.push(this.eventCreate(c.id, ns ?? 'default', true));
  }

  private kubeletRequest(): void {
    const rng = this.rng;
    // A pod's kubelet acts for the pod; node-level requests come from any node.
    const pod = rng.pick(this.allPods);
    const node = rng.chance(0.5) ? pod.node : rng.pick(this.nodes);
    const id = pod.node.kubelet;
    const x = rng.float();
    if (x < 0.3) {
      this.queue.push(this.resourceRequest(id, 'patch', res('pods'), pod.workload.spec.ns, pod.name, 'status', ''));
    } else if (x < 0.42) {
      this.queue.push(this.resourceRequest(node.kubelet, 'patch', res('nodes'), undefined, node.name, 'status', '', '?timeout=10s'));
    } else if (x < 0.55) {
      this.queue.push(this.resourceRequest(node.kubelet, 'get', res('nodes'), undefined, node.name, undefined, '', '?resourceVersion=0&timeout=10s'));
    } else if (x < 0.75) {
      // Kubelets watch (and first list) the single ConfigMaps and Secrets their pods mount.
      const ns = pod.workload.spec.ns;
      const r = res(rng.chance(0.6) ? 'configmaps' : 'secrets');
      const name = rng.skewed(this.namePool(r, ns), 1.5);
      const sel = `fieldSelector=metadata.name%3D${encodeURIComponent(name)}`;
      if (rng.chance(0.5)) this.queue.push(this.resourceRequest(id, 'list', r, ns, name, undefined, '', `?${sel}&limit=500&resourceVersion=0`));
      else this.queue.push(this.resourceRequest(id, 'watch', r, ns, name, undefined, '', undefined, sel));
    } else if (x < 0.85) {
      this.queue.push(this.resourceRequest(id, 'get', res(rng.chance(0.5) ? 'configmaps' : 'secrets'), pod.workload.spec.ns, undefined, undefined, ''));
    } else if (x < 0.98) {
      const ns = pod.workload.spec.ns;
      if (rng.chance(0.4) && this.recentEvents.length > 0) {
        const ev = rng.pick(this.recentEvents);
        this.queue.push(this.resourceRequest(id, 'patch', res('events'), ev.ns, ev.name, undefined, ''));
      } else this.queue.push(this.eventCreate(id, ns, false));
    } else {
      this.queue.push(this.resourceRequest(node.kubelet, 'watch', res('pods'), undefined, undefined, undefined, '', undefined, `fieldSelector=spec.nodeName%3D${node.name}`));
    }
  }

  private controlPlaneRequest(): void {
    const rng = this.rng;
    const x = rng.float();
    if (x < 0.35) {
      const s = this.scheduler;
      const r = res(rng.pick(['pods', 'nodes', 'persistentvolumeclaims', 'csinodes.storage.k8s.io', 'poddisruptionbudgets.policy']));
      this.queue.push(this.resourceRequest(s, rng.chance(0.4) ? 'watch' : 'list', r, undefined, undefined, undefined, s.reasonFor('list', r, undefined)));
    } else if (x < 0.55) {
      const k = this.kcm;
      this.queue.push(this.resourceRequest(k, 'get', res('configmaps'), 'kube-system', 'extension-apiserver-authentication', undefined, rbReason('system::extension-apiserver-authentication-reader', 'kube-system', 'Role', 'extension-apiserver-authentication-reader', 'User "system:kube-controller-manager"')));
    } else if (x < 0.75) {
      const k = this.kcm;
      const r = res(rng.pick(['tokenreviews.authentication.k8s.io', 'subjectaccessreviews.authorization.k8s.io']));
      this.queue.push(this.resourceRequest(k, 'create', r, undefined, undefined, undefined, crbReason('system:kube-controller-manager', 'system:kube-controller-manager', 'User "system:kube-controller-manager"')));
    } else {
      const k = this.kcm;
      const r = res(rng.pick(['serviceaccounts', 'secrets', 'namespaces', 'nodes', 'customresourcedefinitions.apiextensions.k8s.io']));
      this.queue.push(this.resourceRequest(k, rng.chance(0.4) ? 'watch' : 'list', r, undefined, undefined, undefined, k.reasonFor('list', r, undefined)));
    }
  }

  private humanRequest(): void {
    const rng = this.rng;
    const h = rng.skewed(this.humans, 1.3);
    if (rng.chance(0.003)) (h.id.user.extra as Record<string, string[]>)['authentication.kubernetes.io/credential-id'] = [`JTI=${rng.uuid()}`];
    const inScope = h.namespaces === 'all' ? APP_NAMESPACES : h.namespaces;
    // Mostly their own namespaces; sometimes another one, which RBAC denies.
    const ns = rng.chance(0.9) ? rng.pick(inScope) : rng.pick(NAMESPACES);
    const allowedNs = h.namespaces === 'all' || h.namespaces.includes(ns);
    const decide = (write: boolean, secret = false): string | null =>
      allowedNs && !(write && h.readOnly) && !(secret && h.readOnly) ? h.reason(ns) : null;
    const x = rng.float();
    const id = h.id;
    const kubectl = (verb: Verb, key: string, name: string | undefined, sub: string | undefined, reason: string | null, query?: string) =>
      this.queue.push(this.resourceRequest(id, verb, res(key), res(key).namespaced ? ns : undefined, name, sub, reason, query));
    if (x < 0.12) {
      this.queue.push(this.nonResource(id, '/api?timeout=32s', DISCOVERY_REASON));
      this.queue.push(this.nonResource(id, '/apis?timeout=32s', DISCOVERY_REASON));
    } else if (x < 0.4) kubectl('list', rng.pick(['pods', 'pods', 'deployments.apps', 'services', 'events', 'configmaps']), undefined, undefined, decide(false), '?limit=500');
    else if (x < 0.5) kubectl('get', 'pods', undefined, undefined, decide(false));
    else if (x < 0.58) {
      const pod = this.podIn(ns);
      const q = `?container=${pod ? pod.workload.spec.app : 'app'}&follow=true&tailLines=100`;
      this.queue.push(this.resourceRequest(id, 'get', res('pods'), ns, pod?.name, 'log', decide(false), q, undefined, rng.between(5, 600) * 1e6));
    } else if (x < 0.62) {
      const pod = this.podIn(ns);
      const q = `?command=sh&container=${pod ? pod.workload.spec.app : 'app'}&stderr=true&stdin=true&stdout=true&tty=true`;
      this.queue.push(this.resourceRequest(id, 'get', res('pods'), ns, pod?.name, 'exec', decide(true), q, undefined, rng.between(20, 900) * 1e6));
    } else if (x < 0.72) {
      kubectl('get', 'deployments.apps', undefined, undefined, decide(false));
      kubectl('patch', 'deployments.apps', undefined, undefined, decide(true), '?fieldManager=kubectl-client-side-apply&fieldValidation=Strict');
    } else if (x < 0.76) kubectl('patch', 'deployments.apps', undefined, undefined, decide(true), '?fieldManager=kubectl-rollout');
    else if (x < 0.8) kubectl('delete', 'pods', undefined, undefined, decide(true));
    else if (x < 0.85) kubectl('get', 'secrets', undefined, undefined, decide(false, true));
    else if (x < 0.9) {
      const r = res(rng.pick(['nodes', 'clusterrolebindings.rbac.authorization.k8s.io', 'namespaces']));
      const reason = h.namespaces === 'all' ? h.reason(undefined) : null;
      this.queue.push(this.resourceRequest(id, 'list', r, undefined, undefined, undefined, reason, '?limit=500'));
    } else if (x < 0.94) kubectl('get', 'rolebindings.rbac.authorization.k8s.io', undefined, undefined, decide(false));
    else if (x < 0.97) this.queue.push(this.nonResource(id, '/openapi/v3?timeout=32s', DISCOVERY_REASON));
    else kubectl('create', 'jobs.batch', `manual-${rng.chars(POD_SUFFIX_CHARS, 3)}`, undefined, decide(true), '?fieldManager=kubectl-create&fieldValidation=Strict');
  }

  private discovery(): void {
    const rng = this.rng;
    const who = rng.chance(0.5) ? rng.pick(this.controllers).id : this.podIdentity(rng.pick(this.workloadPick.pick(rng).pods));
    const path = rng.pick(['/api', '/apis', '/apis/apps/v1', '/apis/coordination.k8s.io/v1', '/apis/monitoring.coreos.com/v1', '/version']);
    this.queue.push(this.nonResource(who, `${path}?timeout=32s`, path === '/version' ? PUBLIC_INFO_REASON : DISCOVERY_REASON));
  }

  private healthCheck(): void {
    const rng = this.rng;
    const id: Identity = {
      user: { username: 'system:anonymous', groups: ['system:unauthenticated'] },
      sourceIPs: [`10.0.0.${rng.between(100, 103)}`],
      userAgent: rng.pick(['kube-probe/1.31', 'ELB-HealthChecker/2.0', 'Go-http-client/1.1']),
      reasonFor: () => PUBLIC_INFO_REASON,
    };
    this.queue.push(this.nonResource(id, rng.pick(['/healthz', '/livez', '/readyz', '/readyz?verbose']), PUBLIC_INFO_REASON));
  }

  /** Bad credentials: one ResponseStarted event with an empty user and code 401 (§5.3). */
  private failedAuthentication(): void {
    const rng = this.rng;
    const r = res(rng.pick(['pods', 'secrets', 'namespaces']));
    const ns = r.namespaced && rng.chance(0.5) ? rng.pick(NAMESPACES) : undefined;
    const uri = this.uri(r, ns, undefined, undefined) + (rng.chance(0.5) ? '?limit=500' : '');
    this.queue.push({
      id: {
        user: {},
        sourceIPs: [`192.0.2.${rng.between(1, 254)}`],
        userAgent: rng.pick(['curl/8.5.0', 'python-requests/2.32.3', 'Go-http-client/1.1']),
        reasonFor: () => null,
      },
      verb: 'list',
      uri,
      ref: this.ref(r, ns, undefined, undefined, false),
      code: 401,
      failure: { message: `Authentication failed, attempted: ${rng.chance(0.8) ? 'bearer' : 'x509'}` },
      decision: null,
      reason: '',
      latency: this.latency(100, 800),
    });
  }

  /** A pod replaced: the old one deleted, a new one created, bound, its token issued, its status set. */
  private podChurn(): void {
    const rng = this.rng;
    const w = this.workloadPick.pick(rng);
    if (w.spec.kind !== 'Deployment') return;
    const rsController = this.controllers.find((c) => c.name === 'replicaset-controller')!;
    const i = rng.int(w.pods.length);
    const old = w.pods[i]!;
    const ns = w.spec.ns;
    const podsRes = res('pods');
    this.queue.push(this.resourceRequest(rsController.id, 'delete', podsRes, ns, old.name, undefined, rsController.id.reasonFor('delete', podsRes, ns)));
    this.objects.delete(`/pods/${ns}/${old.name}`);
    const fresh = this.makePod(w, rng.pick(this.nodes));
    w.pods[i] = fresh;
    const list = this.podsByNs.get(ns)!;
    list[list.indexOf(old)] = fresh;
    this.allPods[this.allPods.indexOf(old)] = fresh;
    this.queue.push(this.podCreate(rsController.id, ns, rsController.id.reasonFor('create', podsRes, ns)!));
    const binding = this.resourceRequest(this.scheduler, 'create', podsRes, ns, fresh.name, 'binding', crbReason('system:kube-scheduler', 'system:kube-scheduler', 'User "system:kube-scheduler"'));
    this.queue.push(binding);
    this.issuePodToken(fresh, true);
    this.queue.push(this.resourceRequest(fresh.node.kubelet, 'patch', podsRes, ns, fresh.name, 'status', ''));
  }

  // --- request builders ---------------------------------------------------------------------

  private namespaceFor(r: Res, verb: Verb, where: string, own: string): string | undefined {
    if (!r.namespaced) return undefined;
    if (where === 'own') return own;
    if (where !== 'any') return where;
    // Informers list and watch across all namespaces; single objects live somewhere.
    if (verb === 'list' || verb === 'watch') return this.rng.chance(0.85) ? undefined : this.rng.skewed(NAMESPACES, 1.3);
    return this.rng.skewed(NAMESPACES, 1.3);
  }

  private namePool(r: Res, ns: string | undefined): string[] {
    if (r.resource === 'nodes') return this.nodes.map((n) => n.name);
    if (r.resource === 'pods' && ns) {
      const pods = this.podsByNs.get(ns);
      if (pods && pods.length > 0) return pods.map((p) => p.name);
    }
    const key = `${r.group}/${r.resource}/${ns ?? ''}`;
    let pool = this.namePools.get(key);
    if (!pool) {
      if ((r.resource === 'deployments' || r.resource === 'replicasets' || r.resource === 'statefulsets' || r.resource === 'daemonsets') && ns) {
        const ws = this.workloads.filter((w) => w.spec.ns === ns);
        pool = ws.length > 0 ? ws.map((w) => (r.resource === 'replicasets' ? `${w.spec.app}-${w.rsHash}` : w.spec.app)) : namePoolFor(this.rng, r, ns);
      } else pool = namePoolFor(this.rng, r, ns);
      this.namePools.set(key, pool);
    }
    return pool;
  }

  private podIn(ns: string): Pod | undefined {
    const pods = this.podsByNs.get(ns);
    return pods && pods.length > 0 ? this.rng.pick(pods) : undefined;
  }

  /** objectRef in the apiserver's field order; uid and resourceVersion when the object is known. */
  private ref(r: Res, ns: string | undefined, name: string | undefined, sub: string | undefined, identity: boolean): Record<string, string> {
    const ref: Record<string, string> = { resource: r.resource };
    if (ns) ref.namespace = ns;
    if (name) ref.name = name;
    if (identity && name) {
      const key = `${r.group}/${r.resource}/${ns ?? ''}/${name}`;
      let obj = this.objects.get(key);
      if (!obj) this.objects.set(key, (obj = { uid: this.rng.uuid(), rv: this.rv - this.rng.int(500000) }));
      ref.uid = obj.uid;
      if (r.group) ref.apiGroup = r.group;
      ref.apiVersion = r.version;
      ref.resourceVersion = String(obj.rv);
    } else {
      if (r.group) ref.apiGroup = r.group;
      ref.apiVersion = r.version;
    }
    if (sub) ref.subresource = sub;
    return ref;
  }

  private uri(r: Res, ns: string | undefined, name: string | undefined, sub: string | undefined): string {
    let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    if (ns) p += `/namespaces/${ns}`;
    p += `/${r.resource}`;
    if (name) p += `/${name}`;
    if (sub) p += `/${sub}`;
    return p;
  }

  private latency(lo: number, hi: number): number {
    return lo + Math.round(this.rng.float() ** 2 * (hi - lo));
  }

  /**
   * One resource request. `reason` null = denied (403, forbid). For list/watch, `name` comes
   * from a fieldSelector on metadata.name (§6.1) and is not part of the path.
   */
  private resourceRequest(
    id: Identity,
    verb: Verb,
    r: Res,
    ns: string | undefined,
    name: string | undefined,
    sub: string | undefined,
    reason: string | null,
    query?: string,
    watchSelector?: string,
    longRunning?: number,
  ): Req {
    const rng = this.rng;
    const collection = verb === 'list' || verb === 'watch';
    // A create posts to the collection; objectRef.name comes from the body when the client set one.
    const createNew = verb === 'create' && !sub;
    if (!collection && !createNew && !name) name = rng.skewed(this.namePool(r, ns), 1.8);
    if (createNew && !name && r.resource === 'jobs') name = rng.pick(this.namePool(r, ns));
    if ((sub === 'exec' || sub === 'attach') && longRunning === undefined) longRunning = rng.between(5, 300) * 1e6;
    const write = verb === 'update' || verb === 'patch' || verb === 'create' || verb === 'delete';
    let code = verb === 'create' ? 201 : 200;
    let failure: Record<string, unknown> | undefined;
    const kind = r.resource;
    const qualified = r.group ? `${r.resource}.${r.group}` : r.resource;
    const details = (n?: string) => ({ ...(n ? { name: n } : {}), ...(r.group ? { group: r.group } : {}), kind });
    let known = !collection && !createNew && verb !== 'delete';
    if (reason === null) {
      code = 403;
      const who = JSON.stringify((id.user.username as string | undefined) ?? '');
      const where = ns ? ` in the namespace "${ns}"` : ' at the cluster scope';
      const what = sub ? `${r.resource}/${sub}` : r.resource;
      failure = {
        status: 'Failure',
        message: `${qualified}${name && !collection && !createNew ? ` "${name}"` : ''} is forbidden: User ${who} cannot ${verb} resource "${what}" in API group "${r.group}"${where}`,
        reason: 'Forbidden',
        details: details(collection || createNew ? undefined : name),
      };
      known = false;
    } else if (verb === 'get' && rng.chance(0.015) && name && r.resource !== 'leases' && r.resource !== 'nodes') {
      code = 404;
      name = `${name}-${rng.chars(POD_SUFFIX_CHARS, 4)}`;
      failure = { status: 'Failure', message: `${qualified} "${name}" not found`, reason: 'NotFound', details: details(name) };
      known = false;
    } else if ((verb === 'update' || verb === 'patch') && rng.chance(verb === 'update' ? 0.006 : 0.002) && name) {
      code = 409;
      failure = {
        status: 'Failure',
        message: `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        reason: 'Conflict',
        details: details(name),
      };
    }
    const ref = this.ref(r, ns, name, sub, known);
    if (code < 400 && write && name) {
      const obj = this.objects.get(`${r.group}/${r.resource}/${ns ?? ''}/${name}`);
      this.rv += rng.between(1, 7);
      if (obj) obj.rv = this.rv;
    }
    let uri = this.uri(r, ns, collection || createNew ? undefined : name, sub);
    let latency = this.latency(800, 12000);
    let annotations: Record<string, string> | undefined;
    if (verb === 'watch') {
      const seconds = rng.between(300, 599);
      const sel = watchSelector ? `&${watchSelector}` : '';
      uri += `?allowWatchBookmarks=true${sel}&resourceVersion=${this.rv - rng.int(5000)}&timeout=${goDuration(seconds)}&timeoutSeconds=${seconds}&watch=true`;
      longRunning = code === 200 ? seconds * 1e6 + rng.int(2e6) : undefined;
      latency = this.latency(300, 2000);
    } else if (query !== undefined) uri += query;
    else if (verb === 'list') uri += rng.chance(0.8) ? '?limit=500&resourceVersion=0' : '?limit=500';
    else if (id.timeout) uri += `?timeout=${id.timeout}`;
    if (verb === 'list') {
      latency = this.latency(2000, 60000);
      if (rng.chance(0.004)) {
        latency = rng.between(510_000, 3_000_000);
        annotations = latencyAnnotations(rng, latency);
      }
    }
    if (longRunning !== undefined && code === 200 && sub && (sub === 'exec' || sub === 'attach')) code = 101;
    return {
      id,
      verb,
      uri,
      ref,
      code,
      failure,
      decision: reason === null ? 'forbid' : 'allow',
      reason: reason ?? '',
      annotations,
      latency,
      longRunning: code < 400 ? longRunning : undefined,
    };
  }

  private podCreate(id: Identity, ns: string, reason: string): Req {
    const rng = this.rng;
    const req = this.resourceRequest(id, 'create', res('pods'), ns, undefined, undefined, reason);
    const level = ns.startsWith('kube-') || ns === 'logging' || ns === 'istio-system' ? 'privileged' : rng.chance(0.5) ? 'baseline' : 'restricted';
    const annotations: Record<string, string> = { 'pod-security.kubernetes.io/enforce-policy': `${level}:latest` };
    if (level === 'baseline' && rng.chance(0.3)) {
      annotations['pod-security.kubernetes.io/audit-violations'] =
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")';
    }
    if (APP_NAMESPACES.includes(ns)) {
      annotations['mutation.webhook.admission.k8s.io/round_0_index_0'] = '{"configuration":"istio-sidecar-injector","webhook":"namespace.sidecar-injector.istio.io","mutated":true}';
    }
    req.annotations = annotations;
    return req;
  }

  private eventCreate(id: Identity, ns: string, eventsV1: boolean): Req {
    const rng = this.rng;
    const involved = this.podIn(ns)?.name ?? rng.pick(this.namePool(res('configmaps'), ns));
    const name = `${involved}.${rng.hex(16)}`;
    if (this.recentEvents.length < 256) this.recentEvents.push({ ns, name });
    else this.recentEvents[rng.int(256)] = { ns, name };
    const r = res(eventsV1 ? 'events.events.k8s.io' : 'events');
    return this.resourceRequest(id, 'create', r, ns, name, undefined, id.reasonFor('create', r, ns) ?? '');
  }

  private nonResource(id: Identity, uri: string, reason: string): Req {
    return { id, verb: 'get', uri, code: 200, decision: 'allow', reason, latency: this.latency(200, 3000) };
  }

  // --- serialization ------------------------------------------------------------------------

  private emit(req: Req): string {
    const auditID = this.rng.uuid();
    const received = this.now;
    if (req.decision === null) {
      return this.line(req, auditID, 'ResponseStarted', received, received + req.latency, req.code);
    }
    if (req.verb === 'watch' && req.longRunning !== undefined && !req.pairedWithOlder) {
      const old = this.preWindowWatchEnd(req);
      if (old !== null) {
        this.queue.unshift({ ...req, pairedWithOlder: true });
        return old;
      }
    }
    if (req.longRunning !== undefined) {
      const started = this.line(req, auditID, 'ResponseStarted', received, received + req.latency, req.code);
      const at = received + req.longRunning;
      heapPush(this.pendingComplete, { at, line: this.line(req, auditID, 'ResponseComplete', received, at, req.code) });
      return started;
    }
    return this.line(req, auditID, 'ResponseComplete', received, received + req.latency, req.code);
  }

  /**
   * A log starts in the middle of a cluster's life: watches opened before its first line end
   * during its first 10 minutes (client-go watches last 5–10 min). Returns such a watch's
   * ResponseComplete, as often as in-window watches would end at a steady rate, or null.
   */
  private preWindowWatchEnd(req: Req): string | null {
    const elapsed = (this.now - this.start) / 1e6;
    const share = elapsed < 300 ? 1 : (600 - elapsed) / 300;
    if (share <= 0 || !this.rng.chance(share)) return null;
    const seconds = this.rng.between(Math.max(300, Math.ceil(elapsed) + 1), 599);
    if (seconds > 599) return null;
    const uri = req.uri.replace(
      /resourceVersion=\d+&timeout=[^&]+&timeoutSeconds=\d+/,
      `resourceVersion=${this.rv - this.rng.int(2_000_000)}&timeout=${goDuration(seconds)}&timeoutSeconds=${seconds}`,
    );
    const received = this.now - seconds * 1e6 - this.rng.int(2e6);
    return this.line({ ...req, uri }, this.rng.uuid(), 'ResponseComplete', received, this.now, req.code);
  }

  private line(req: Req, auditID: string, stage: string, received: number, stageAt: number, code: number): string {
    const e: Record<string, unknown> = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID,
      stage,
      requestURI: req.uri,
      verb: req.verb,
      user: req.id?.user ?? {},
    };
    if (req.id) {
      e.sourceIPs = req.id.sourceIPs;
      e.userAgent = req.id.userAgent;
    }
    if (req.ref) e.objectRef = req.ref;
    e.responseStatus = req.failure ? { metadata: {}, ...req.failure, code } : { metadata: {}, code };
    e.requestReceivedTimestamp = this.microTime(received);
    e.stageTimestamp = this.microTime(stageAt);
    if (req.decision !== null) {
      let annotations: Record<string, string> = { 'authorization.k8s.io/decision': req.decision, 'authorization.k8s.io/reason': req.reason };
      if (req.annotations) {
        const all = { ...annotations, ...req.annotations };
        annotations = {};
        for (const k of Object.keys(all).sort()) annotations[k] = all[k]!;
      }
      e.annotations = annotations;
    }
    return JSON.stringify(e);
  }

  private microTime(us: number): string {
    const second = Math.floor(us / 1e6);
    if (second !== this.secondCache.second) {
      this.secondCache = { second, prefix: new Date(second * 1000).toISOString().slice(0, 19) };
    }
    return `${this.secondCache.prefix}.${String(us - second * 1e6).padStart(6, '0')}Z`;
  }
}

function latencyAnnotations(rng: Rng, totalUs: number): Record<string, string> {
  const fmt = (us: number) => (us >= 1e6 ? `${(us / 1e6).toFixed(9).replace(/0+$/, '')}s` : `${(us / 1e3).toFixed(6).replace(/0+$/, '')}ms`);
  const etcd = Math.round(totalUs * (0.5 + rng.float() * 0.3));
  const serialize = Math.round((totalUs - etcd) * 0.7);
  return {
    'apiserver.latency.k8s.io/etcd': fmt(etcd),
    'apiserver.latency.k8s.io/response-write': fmt(rng.between(10, 900)),
    'apiserver.latency.k8s.io/serialize-response-object': fmt(serialize),
    'apiserver.latency.k8s.io/total': fmt(totalUs),
    'apiserver.latency.k8s.io/transform-response-object': fmt(rng.between(1, 40)),
  };
}

// A binary min-heap on `at`, for the ResponseComplete events of long-running requests.
function heapPush(h: { at: number; line: string }[], item: { at: number; line: string }): void {
  h.push(item);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]!.at <= h[i]!.at) break;
    [h[p], h[i]] = [h[i]!, h[p]!];
    i = p;
  }
}

function heapPop(h: { at: number; line: string }[]): void {
  const last = h.pop()!;
  if (h.length === 0) return;
  h[0] = last;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && h[l]!.at < h[m]!.at) m = l;
    if (r < h.length && h[r]!.at < h[m]!.at) m = r;
    if (m === i) return;
    [h[m], h[i]] = [h[i]!, h[m]!];
    i = m;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [n, file, seed] = process.argv.slice(2);
  if (!n || !file) {
    process.stderr.write('usage: node dist/bench/generateEvents.js N FILE [SEED]\n');
    process.exitCode = 2;
  } else {
    const r = await writeEventsFile(file, Number(n), { seed: seed ? Number(seed) : DEFAULT_SEED });
    process.stdout.write(`${r.events} events, ${r.bytes} bytes, ${(r.bytes / r.events).toFixed(0)} B/event\n`);
  }
}
