import { RBAC_GROUP, emptyState, type PolicyRule, type RbacState } from './types.js';

/**
 * What every cluster grants every caller without any binding of its own: the apiserver's
 * bootstrap discovery roles (kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy,
 * `system:discovery`, `system:basic-user` and `system:public-info-viewer`, bound to
 * `system:authenticated`, the last also to `system:unauthenticated`). A recommendation made
 * without a snapshot assumes them, as audit2rbac does: it proposes nothing they allow.
 */
export function bootstrapDiscoveryState(): RbacState {
  const urls = (paths: string[]): PolicyRule => ({ verbs: ['get'], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: paths });
  const create = (apiGroup: string, resources: string[]): PolicyRule => ({ verbs: ['create'], apiGroups: [apiGroup], resources, resourceNames: [], nonResourceURLs: [] });
  const roles: [string, PolicyRule[], string[]][] = [
    ['system:discovery', [urls(['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'])], ['system:authenticated']],
    ['system:basic-user', [create('authorization.k8s.io', ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']), create('authentication.k8s.io', ['selfsubjectreviews'])], ['system:authenticated']],
    ['system:public-info-viewer', [urls(['/healthz', '/livez', '/readyz', '/version', '/version/'])], ['system:authenticated', 'system:unauthenticated']],
  ];
  return {
    ...emptyState(),
    clusterRoles: roles.map(([name, rules]) => ({ name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, rules })),
    clusterRoleBindings: roles.map(([name, , groups]) => ({
      name,
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
      subjects: groups.map((g) => ({ kind: 'Group', name: g, namespace: '', apiGroup: RBAC_GROUP })),
    })),
  };
}
