import type { Identity } from '../identity/identity.js';
import type { Action, RuleState } from './types.js';

export const READS = new Set(['get', 'list', 'watch']);
export const WRITES = new Set(['create', 'update', 'patch']);
export const CHANGES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
export const RBAC_RESOURCES = ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'];
export const WORKLOADS = new Set(['pods', 'deployments', 'statefulsets', 'daemonsets', 'replicasets', 'jobs', 'cronjobs', 'replicationcontrollers']);

export const ref = (a: Action) => a.event.objectRef ?? {};
export const who = (i: Identity) => (i.cloud?.provider === 'aws' ? `${i.username} (${i.cloud.principal})` : i.username);
export const target = (a: Action) => {
  const r = ref(a);
  if (!r.resource) return a.event.requestURI;
  const what = `${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
  return `${what}${r.name ? ` ${r.name}` : ''}${r.namespace ? ` in ${r.namespace}` : ''}`;
};
export const allowed = (a: Action) => a.decision !== 'forbid' && (a.event.responseStatus?.code ?? 200) < 400;
/** The TCP peer: only the last entry of sourceIPs is not the client's own say (k8s-audit.md §2). */
export const peer = (a: Action) => a.event.sourceIPs?.at(-1) ?? 'unknown';
/** The cluster's own machinery: the apiserver and its controllers, nodes, kube-system's controller accounts. */
export const isControlPlane = (i: Identity) =>
  i.kind === 'control-plane' || i.kind === 'node' || (i.serviceAccount?.namespace === 'kube-system' && i.username.startsWith('system:serviceaccount:kube-system:'));

/**
 * Keys a rule remembers at most: an attacker spraying addresses or identities must not grow a
 * rule's memory without bound. The oldest keys go first.
 */
export const MAX_STATE_KEYS = 10_000;

export function remember(state: RuleState, key: string, value: unknown): void {
  state.delete(key);
  state.set(key, value);
  if (state.size > MAX_STATE_KEYS) state.delete(state.keys().next().value!);
}

/** Counts hits of `key` in a sliding window; true when this one makes `count`. */
export function burst(state: RuleState, key: string, at: number, count: number, windowSeconds: number): boolean {
  const since = at - windowSeconds * 1e6;
  const times = ((state.get(key) as number[] | undefined) ?? []).filter((t) => t > since);
  times.push(at);
  // Fires once when the count is reached; the next burst starts from an empty window.
  if (times.length < count) {
    remember(state, key, times);
    return false;
  }
  state.delete(key);
  return true;
}

/**
 * Counts the distinct `item`s of `key` seen within a sliding window; the items when this one
 * makes `count` (then starts again), else null. Expired items are dropped only when the count
 * might be reached, so the common case is one Map write.
 */
export function distinctBurst(state: RuleState, key: string, item: string, at: number, count: number, windowSeconds: number): string[] | null {
  let seen = state.get(key) as Map<string, number> | undefined;
  if (!seen) remember(state, key, (seen = new Map<string, number>()));
  seen.set(item, at);
  if (seen.size < count) return null;
  const since = at - windowSeconds * 1e6;
  for (const [k, t] of seen) if (t <= since) seen.delete(k);
  if (seen.size < count) return null;
  state.delete(key);
  return [...seen.keys()];
}
