import type { Authorizer, BindingGrant, NamespaceScope } from './authorizer.js';
import { apiGroupMatches, resourceMatches } from './ruleAllows.js';
import { bypassesRbac } from './subjects.js';
import type { ApiResourceInfo, PolicyRule, UserAttributes } from './types.js';

/** A concrete resource a wildcard rule reaches, with the verbs it allows there. */
export interface ExpandedResource {
  apiGroup: string;
  resource: string;
  verbs: string[];
}

export interface PermissionRule {
  rule: PolicyRule;
  /** With discovery: the served resources a rule with wildcards reaches. */
  expanded?: ExpandedResource[];
}

export interface PermissionGrant extends Omit<BindingGrant, 'rules'> {
  /** Where the grant applies: "" cluster-wide (a ClusterRoleBinding), else the RoleBinding's namespace. */
  scope: string;
  rules: PermissionRule[];
}

export interface EffectivePermissions {
  user: UserAttributes;
  /** In system:masters: everything is allowed whatever RBAC says. */
  bypass: boolean;
  grants: PermissionGrant[];
}

/**
 * Every rule that reaches a user, with the binding path that grants it (spec/rbac.md §5):
 * ClusterRoleBindings apply everywhere, RoleBindings in their namespace only. Wildcards are
 * expanded against `discovery` when given.
 */
export function effectivePermissions(authz: Authorizer, user: UserAttributes, namespaces: NamespaceScope = 'all'): EffectivePermissions {
  const discovery = authz.state.discovery;
  const grants = authz.grantsFor(user, namespaces).map((g): PermissionGrant => ({
    binding: g.binding,
    role: g.role,
    subject: g.subject,
    scope: g.binding.namespace,
    rules: g.rules.map((rule) => {
      const wild = rule.resources.some((r) => r === '*' || r.startsWith('*/')) || rule.apiGroups.includes('*') || rule.verbs.includes('*');
      return discovery && wild && rule.resources.length > 0 ? { rule, expanded: expandRule(rule, discovery) } : { rule };
    }),
  }));
  return { user, bypass: bypassesRbac(user), grants };
}

/** The served resources (and subresources) a resource rule reaches, with its verbs there (`*`: the verbs each serves). */
export function expandRule(rule: PolicyRule, discovery: readonly ApiResourceInfo[]): ExpandedResource[] {
  const out = new Map<string, ExpandedResource>();
  for (const r of discovery) {
    const slash = r.resource.indexOf('/');
    const subresource = slash < 0 ? '' : r.resource.slice(slash + 1);
    if (!apiGroupMatches(rule, r.apiGroup) || !resourceMatches(rule, r.resource, subresource)) continue;
    const verbs = rule.verbs.includes('*') ? r.verbs : rule.verbs;
    const key = `${r.apiGroup}/${r.resource}`;
    const known = out.get(key);
    if (known) known.verbs = [...new Set([...known.verbs, ...verbs])];
    else out.set(key, { apiGroup: r.apiGroup, resource: r.resource, verbs: [...verbs] });
  }
  return [...out.values()];
}
