import { MASTERS, type UserAttributes } from './types.js';

const SA_PREFIX = 'system:serviceaccount:';

/**
 * The user kubectl's `--as NAME [--as-group G]…` stands for: the groups given, plus
 * `system:authenticated` (or `system:unauthenticated` for `system:anonymous`) and, for a
 * service-account username, `system:serviceaccounts` and `system:serviceaccounts:NS` — what
 * the apiserver's authenticators would have added.
 */
export function impersonatedUser(name: string, groups: readonly string[] = []): UserAttributes {
  const all = [...groups];
  const add = (g: string) => {
    if (!all.includes(g)) all.push(g);
  };
  const sa = parseServiceAccountName(name);
  if (sa) {
    add('system:serviceaccounts');
    add(`system:serviceaccounts:${sa.namespace}`);
  }
  add(name === 'system:anonymous' ? 'system:unauthenticated' : 'system:authenticated');
  return { name, groups: all };
}

/** `NS:NAME` (or `system:serviceaccount:NS:NAME`) as the service account's user. */
export function serviceAccountUser(spec: string): UserAttributes | null {
  const full = spec.startsWith(SA_PREFIX) ? spec : `${SA_PREFIX}${spec}`;
  return parseServiceAccountName(full) ? impersonatedUser(full) : null;
}

export function parseServiceAccountName(username: string): { namespace: string; name: string } | null {
  if (!username.startsWith(SA_PREFIX)) return null;
  const [namespace, name, ...rest] = username.slice(SA_PREFIX.length).split(':');
  return namespace && name && rest.length === 0 ? { namespace, name } : null;
}

/** True when the user's groups make RBAC irrelevant (the system:masters bypass). */
export function bypassesRbac(user: UserAttributes): boolean {
  return user.groups.includes(MASTERS);
}
