/**
 * What makes a pod privileged (PSS "baseline" violations that matter most): privileged
 * containers, host namespaces, and hostPath volumes on sensitive host paths. Pure, over the
 * request body of a pod or a workload with a pod template.
 */

import { isObj, type Obj } from './json.js';

/** Host paths whose mount hands over the node: its root and /usr themselves … */
const SENSITIVE_EXACT = new Set(['/', '/usr']);
/** … and these with everything under them: config, kernel, devices, runtimes, kubelet. */
const SENSITIVE_TREES = ['/etc', '/proc', '/sys', '/dev', '/boot', '/root', '/lib/modules', '/var/lib/kubelet', '/var/lib/docker', '/var/lib/containerd', '/var/run', '/run'];

function isSensitive(path: string): boolean {
  return SENSITIVE_EXACT.has(path) || SENSITIVE_TREES.some((t) => path === t || path.startsWith(`${t}/`));
}

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The pod spec(s) in a body: a Pod, a pod template (Deployment, …) or a CronJob's job template. */
export function podSpecsOf(body: unknown): Obj[] {
  if (!isObj(body) || !isObj(body.spec)) return [];
  const spec = body.spec;
  if (isObj(spec.template) && isObj(spec.template.spec)) return [spec.template.spec];
  const job = spec.jobTemplate;
  if (isObj(job) && isObj(job.spec) && isObj(job.spec.template) && isObj(job.spec.template.spec)) return [job.spec.template.spec];
  return body.kind === 'Pod' || 'containers' in spec ? [spec] : [];
}

function normalizePath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** Why a pod spec is privileged, one reason per problem; empty when it is not. */
export function privilegedReasons(spec: Obj, dangerousCapabilities: readonly string[] = []): string[] {
  const reasons: string[] = [];
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[ns] === true) reasons.push(ns);
  for (const list of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    for (const c of arr(spec[list])) {
      if (!isObj(c)) continue;
      const sc = c.securityContext;
      if (!isObj(sc)) continue;
      if (sc.privileged === true) reasons.push(`privileged container ${String(c.name ?? '?')}`);
      const added = isObj(sc.capabilities) ? arr(sc.capabilities.add).filter((x): x is string => typeof x === 'string') : [];
      // Either spelling: SYS_ADMIN or CAP_SYS_ADMIN, in any case.
      const dangerous = added.filter((cap) => dangerousCapabilities.includes(cap.toUpperCase().replace(/^CAP_/, '')) || cap.toUpperCase() === 'ALL');
      if (dangerous.length > 0) reasons.push(`container ${String(c.name ?? '?')} adds ${dangerous.join(', ')}`);
    }
  }
  for (const v of arr(spec.volumes)) {
    if (!isObj(v) || !isObj(v.hostPath) || typeof v.hostPath.path !== 'string') continue;
    const path = normalizePath(v.hostPath.path);
    if (isSensitive(path)) reasons.push(`hostPath ${path}`);
  }
  return reasons;
}

/** `Kind/namespace/name` of the controller that owns the object in `body`, if one does. */
export function controllerOwner(body: unknown, namespace: string): string | undefined {
  if (!isObj(body) || !isObj(body.metadata) || !Array.isArray(body.metadata.ownerReferences)) return undefined;
  const owner = body.metadata.ownerReferences.filter(isObj).find((o) => o.controller === true);
  if (!owner || typeof owner.kind !== 'string' || typeof owner.name !== 'string') return undefined;
  return `${owner.kind}/${namespace}/${owner.name}`;
}

/** Every container of the pod specs in a body, with its list (containers, initContainers, ephemeralContainers). */
export function containersOf(body: unknown): Obj[] {
  return podSpecsOf(body).flatMap((spec) => ['initContainers', 'containers', 'ephemeralContainers'].flatMap((list) => arr(spec[list]).filter(isObj)));
}
