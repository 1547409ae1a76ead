import type { Authorizer, BindingRef, RoleRefResolved } from './authorizer.js';
import { ruleAllows } from './ruleAllows.js';
import { MASTERS, type PolicyRule, type RequestAttributes, type Subject } from './types.js';

export interface WhoCanEntry {
  subject: Subject;
  binding: BindingRef;
  role: RoleRefResolved;
  rule: PolicyRule;
}

export interface WhoCanAnswer {
  entries: WhoCanEntry[];
  /** Always true: members of system:masters can do anything, whatever RBAC says. */
  masters: typeof MASTERS;
}

/**
 * The subjects that may make a request (its user is ignored), with the binding, role and rule
 * of each. RoleBindings grant only within their namespace and never non-resource URLs: they are
 * consulted for a resource request in a namespace — the request's, or with `allNamespaces`
 * every namespace, each binding judged at its own.
 */
export function whoCan(authz: Authorizer, request: RequestAttributes, allNamespaces = false): WhoCanAnswer {
  const entries: WhoCanEntry[] = [];
  const ns = request.resourceRequest ? request.namespace : '';
  const scope = !request.resourceRequest ? [] : allNamespaces ? 'all' : ns ? [ns] : [];
  for (const b of authz.allBindings(scope)) {
    if ('error' in b.role) continue;
    const at: RequestAttributes = request.resourceRequest && b.binding.kind === 'RoleBinding' ? { ...request, namespace: b.binding.namespace } : request;
    const rule = b.role.rules.find((r) => ruleAllows(at, r));
    if (!rule) continue;
    for (const subject of b.subjects) entries.push({ subject, binding: b.binding, role: b.role.ref, rule });
  }
  return { entries, masters: MASTERS };
}
