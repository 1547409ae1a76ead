import { InputError } from '../errors.js';
import type { ApiResourceInfo } from './types.js';

export type ResourceArg = { kind: 'resource'; apiGroup: string; resource: string; name: string } | { kind: 'url'; path: string };

/**
 * kubectl's `RESOURCE[.GROUP][/NAME]` (`deployments.apps`, `leases.coordination.k8s.io/kube-scheduler`,
 * `pods`), or a non-resource URL (`/healthz`). With discovery, a singular name, short name or
 * kind (`deploy`, `Deployment`) becomes the plural, and a resource without a group is looked
 * up (the core group first); without, the text is taken as the plural in the core group.
 */
export function parseResourceArg(text: string, discovery?: readonly ApiResourceInfo[]): ResourceArg {
  if (text.startsWith('/')) return { kind: 'url', path: text };
  const parts = text.split('/');
  if (parts.length > 2 || !parts[0]) throw new InputError(`resource '${text}': expected RESOURCE[.GROUP][/NAME], e.g. deployments.apps/web, or a URL such as /healthz`);
  const [typed, name = ''] = parts as [string, string?];
  const dot = typed.indexOf('.');
  const given = dot < 0 ? typed : typed.slice(0, dot);
  const group = dot < 0 ? undefined : typed.slice(dot + 1);
  if (!discovery || given === '*') return { kind: 'resource', apiGroup: group ?? '', resource: given, name };

  const lower = given.toLowerCase();
  const matches = discovery.filter(
    (r) =>
      !r.resource.includes('/') &&
      (group === undefined || r.apiGroup === group) &&
      (r.resource === lower || r.singularName === lower || r.shortNames.includes(lower) || r.kind.toLowerCase() === lower),
  );
  const chosen = matches.find((r) => r.apiGroup === '') ?? matches[0];
  if (!chosen) return { kind: 'resource', apiGroup: group ?? '', resource: given, name };
  const groups = [...new Set(matches.map((r) => r.apiGroup))];
  if (group === undefined && chosen.apiGroup !== '' && groups.length > 1) {
    throw new InputError(`resource '${given}' is served by several groups (${groups.join(', ')}): name one, e.g. ${chosen.resource}.${groups[0]}`);
  }
  return { kind: 'resource', apiGroup: chosen.apiGroup, resource: chosen.resource, name };
}

/** Whether a resource is namespaced, per discovery; undefined when discovery does not say. */
function isNamespaced(discovery: readonly ApiResourceInfo[] | undefined, apiGroup: string, resource: string): boolean | undefined {
  return discovery?.find((r) => r.apiGroup === apiGroup && r.resource === resource)?.namespaced;
}

/** Built-in cluster-scoped resources, for when there is no discovery to ask. */
const CLUSTER_SCOPED = new Set([
  'nodes', 'namespaces', 'persistentvolumes', 'componentstatuses', 'clusterroles', 'clusterrolebindings',
  'customresourcedefinitions', 'apiservices', 'storageclasses', 'csidrivers', 'csinodes', 'volumeattachments',
  'priorityclasses', 'runtimeclasses', 'ingressclasses', 'certificatesigningrequests', 'mutatingwebhookconfigurations',
  'validatingwebhookconfigurations', 'validatingadmissionpolicies', 'validatingadmissionpolicybindings',
  'mutatingadmissionpolicies', 'mutatingadmissionpolicybindings', 'flowschemas', 'prioritylevelconfigurations',
  'tokenreviews', 'subjectaccessreviews', 'selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews',
  'ipaddresses', 'servicecidrs', 'clustertrustbundles', 'deviceclasses', 'resourceslices',
]);

/** Whether a resource is namespaced: per discovery when it knows, else by the built-in list. */
export function isNamespacedResource(discovery: readonly ApiResourceInfo[] | undefined, apiGroup: string, resource: string): boolean {
  return isNamespaced(discovery, apiGroup, resource) ?? !CLUSTER_SCOPED.has(resource);
}
