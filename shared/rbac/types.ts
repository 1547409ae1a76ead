/**
 * The RBAC model kubetrail evaluates (spec/rbac.md): the four RBAC kinds and ServiceAccounts,
 * normalized from their Kubernetes objects (absent lists are empty lists), and the request
 * attributes the authorizer sees.
 */

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

export interface ClusterRole {
  name: string;
  labels: Record<string, string>;
  /** The rules as stored (for an aggregated role, what the controller last wrote). */
  rules: PolicyRule[];
  aggregationRule?: { clusterRoleSelectors: LabelSelector[] };
}

export interface Role {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  rules: PolicyRule[];
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

export interface Subject {
  kind: string;
  name: string;
  /** ServiceAccount subjects: the account's namespace ("" = the binding's). */
  namespace: string;
  apiGroup: string;
}

export interface ClusterRoleBinding {
  name: string;
  roleRef: RoleRef;
  subjects: Subject[];
}

export interface RoleBinding {
  name: string;
  namespace: string;
  roleRef: RoleRef;
  subjects: Subject[];
}

export interface ServiceAccount {
  name: string;
  namespace: string;
}

/** One resource (or subresource, `pods/log`) an API group version serves (API discovery). */
export interface ApiResourceInfo {
  apiGroup: string;
  version: string;
  /** `pods`, or `pods/log` for a subresource. */
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames: string[];
  singularName: string;
}

/** The RBAC objects of one cluster at one time. */
export interface RbacState {
  clusterRoles: ClusterRole[];
  roles: Role[];
  clusterRoleBindings: ClusterRoleBinding[];
  roleBindings: RoleBinding[];
  serviceAccounts: ServiceAccount[];
  /** API discovery, when the source had it (a live cluster); expands wildcards. */
  discovery?: ApiResourceInfo[];
}

export function emptyState(): RbacState {
  return { clusterRoles: [], roles: [], clusterRoleBindings: [], roleBindings: [], serviceAccounts: [] };
}

/** Who is asking: RBAC uses only the username and the groups. */
export interface UserAttributes {
  name: string;
  groups: readonly string[];
}

/** What the authorizer is asked (spec/rbac.md §1). */
export type RequestAttributes = ResourceAttributes | NonResourceAttributes;

export interface ResourceAttributes {
  user: UserAttributes;
  verb: string;
  resourceRequest: true;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

export interface NonResourceAttributes {
  user: UserAttributes;
  verb: string;
  resourceRequest: false;
  path: string;
}

export const MASTERS = 'system:masters';
export const RBAC_GROUP = 'rbac.authorization.k8s.io';
