import type { UserInfo } from '../audit/types.js';
import { parseServiceAccountName } from './subjects.js';
import type { ResourceAttributes, UserAttributes } from './types.js';

/** A check the apiserver makes but does not audit, made against the actor. */
export type SyntheticCheck = Omit<ResourceAttributes, 'user'>;

const AUTHENTICATION_GROUP = 'authentication.k8s.io';

/**
 * The impersonation checks behind a request whose audit event shows `impersonatedUser`
 * (spec/k8s-audit.md §8.5, spec/rbac.md §6): one `impersonate` per header value. The event
 * records the impersonated user after the apiserver's additions, not the headers, so the
 * groups it adds itself — `system:authenticated` / `system:unauthenticated`, and a service
 * account's own groups — are not counted as impersonated (they may have been asked for too;
 * that cannot be seen). Pure.
 */
export function impersonationChecks(impersonated: UserInfo): SyntheticCheck[] {
  const check = (apiGroup: string, resource: string, name: string, namespace = '', subresource = ''): SyntheticCheck => ({
    verb: 'impersonate', resourceRequest: true, apiGroup, resource, subresource, namespace, name,
  });
  const username = impersonated.username ?? '';
  const sa = parseServiceAccountName(username);
  const out: SyntheticCheck[] = [sa ? check('', 'serviceaccounts', sa.name, sa.namespace) : check('', 'users', username)];
  const added = new Set(['system:authenticated', 'system:unauthenticated']);
  if (sa) {
    added.add('system:serviceaccounts');
    added.add(`system:serviceaccounts:${sa.namespace}`);
  }
  for (const g of impersonated.groups ?? []) if (!added.has(g)) out.push(check('', 'groups', g));
  for (const [key, values] of Object.entries(impersonated.extra ?? {})) {
    for (const v of values) out.push(check(AUTHENTICATION_GROUP, 'userextras', v, '', key));
  }
  if (impersonated.uid) out.push(check(AUTHENTICATION_GROUP, 'uids', impersonated.uid));
  return out;
}

/** A UserInfo as RBAC sees it: the username and the groups, sorted (their order never matters). */
export function rbacUser(u: UserInfo): UserAttributes {
  return { name: u.username ?? '', groups: [...new Set(u.groups ?? [])].sort() };
}
