import { InputError } from '../errors.js';
import { Authorizer, describeSubject } from './authorizer.js';
import { describeRule } from './diffStates.js';
import type { EffectivePermissions } from './permissions.js';
import { isNamespacedResource, parseResourceArg } from './resourceArg.js';
import { impersonatedUser, serviceAccountUser } from './subjects.js';
import type { RbacState, RequestAttributes, UserAttributes } from './types.js';
import { whoCan } from './whoCan.js';

/**
 * The answers of `rbac can`, `who-can` and `permissions`, for the CLI and the query API alike.
 * Option names are the CLI's; a problem is an InputError naming the option.
 */
export interface RequestOptions {
  subresource?: string;
  namespace?: string;
}

/** The request of `can` and `who-can`: VERB and RESOURCE[.GROUP][/NAME] or a URL. */
export function requestFrom(state: RbacState, verb: string, target: string, o: RequestOptions, user: UserAttributes): RequestAttributes {
  const arg = parseResourceArg(target, state.discovery);
  if (arg.kind === 'url') {
    if (o.subresource || o.namespace) throw new InputError(`${target} is a non-resource URL: subresource and namespace do not apply`);
    return { user, verb, resourceRequest: false, path: arg.path };
  }
  // GET /api/v1/namespaces/NAME is in namespace NAME (spec/rbac.md §1.1): a RoleBinding there can grant it.
  const namespace = o.namespace ?? (arg.apiGroup === '' && arg.resource === 'namespaces' ? arg.name : '');
  return { user, verb, resourceRequest: true, apiGroup: arg.apiGroup, resource: arg.resource, subresource: o.subresource ?? '', namespace, name: arg.name };
}

/** Whether the user may, and why: the binding and rule, or the system:masters bypass. */
export function canAnswer(state: RbacState, verb: string, target: string, o: RequestOptions, user: UserAttributes, origin: string): { allowed: boolean; explanation: string[] } {
  const attrs = requestFrom(state, verb, target, o, user);
  const decision = new Authorizer(state).authorize(attrs);
  const lines: string[] = [];
  if (decision.allowed && decision.via === 'system:masters') lines.push('system:masters: the privileged-group authorizer allows it before RBAC (not an RBAC grant; it cannot be reviewed or revoked in RBAC)');
  else if (decision.allowed && decision.via === 'rbac') {
    const g = decision.grant;
    lines.push(decision.reason, `rule ${g.ruleIndex + 1} of ${g.role.kind} ${g.role.name}: ${describeRule(g.rule)}`);
  } else lines.push(`no RBAC rule allows it${decision.reason ? ` (${decision.reason})` : ''}`);
  if (attrs.resourceRequest && attrs.namespace === '' && isNamespacedResource(state.discovery, attrs.apiGroup, attrs.resource)) {
    lines.push('asked cluster-wide (in every namespace): RoleBindings do not count; give a namespace to ask about one namespace');
  }
  lines.push(`evaluated: ${origin}; user ${attrs.user.name}, groups ${attrs.user.groups.join(', ')}`);
  return { allowed: decision.allowed, explanation: lines };
}

export const WHO_CAN_COLUMNS = ['subject', 'scope', 'binding', 'role', 'rule'] as const;
export type WhoCanRow = Record<(typeof WHO_CAN_COLUMNS)[number], string>;

/** The subjects allowed, with the binding path of each; system:masters first. */
export function whoCanRows(state: RbacState, verb: string, target: string, o: RequestOptions): WhoCanRow[] {
  const attrs = requestFrom(state, verb, target, o, { name: '', groups: [] });
  const everyNamespace = attrs.resourceRequest && o.namespace === undefined && attrs.namespace === '' && isNamespacedResource(state.discovery, attrs.apiGroup, attrs.resource);
  const answer = whoCan(new Authorizer(state), attrs, everyNamespace);
  return [
    { subject: `Group ${answer.masters}`, scope: 'cluster', binding: '(privileged-group authorizer: bypasses RBAC)', role: '', rule: '' },
    ...answer.entries.map((e) => ({
      subject: describeSubject(e.subject, e.binding.namespace).replace(/"/g, ''),
      scope: e.binding.kind === 'RoleBinding' ? `namespace ${e.binding.namespace}` : 'cluster',
      binding: e.binding.kind === 'RoleBinding' ? `RoleBinding ${e.binding.namespace}/${e.binding.name}` : `ClusterRoleBinding ${e.binding.name}`,
      role: `${e.role.kind} ${e.role.name}`,
      rule: describeRule(e.rule),
    })),
  ];
}

/** Whose permissions: a user (with groups), a service account NS:NAME, or groups alone. */
export function subjectUser(o: { user?: string; group?: string[]; serviceaccount?: string }): UserAttributes {
  if (o.serviceaccount !== undefined) {
    if (o.user !== undefined) throw new InputError('give a user or a serviceaccount, not both');
    const sa = serviceAccountUser(o.serviceaccount);
    if (!sa) throw new InputError(`serviceaccount: expected NAMESPACE:NAME, got '${o.serviceaccount}'`);
    return sa;
  }
  if (o.user !== undefined) return impersonatedUser(o.user, o.group ?? []);
  if (o.group && o.group.length > 0) return { name: '', groups: o.group };
  throw new InputError('whose permissions? give a user (with groups), a serviceaccount NS:NAME, or a group');
}

export const PERMISSION_COLUMNS = ['scope', 'binding', 'role', 'via', 'rule', 'expands'] as const;

/** One row per rule that reaches the subject, with its binding path. */
export function permissionRows(perms: EffectivePermissions): Record<(typeof PERMISSION_COLUMNS)[number], string>[] {
  return perms.grants.flatMap((g) =>
    g.rules.map((r) => ({
      scope: g.scope === '' ? 'cluster' : `namespace ${g.scope}`,
      binding: `${g.binding.kind} ${g.binding.namespace ? `${g.binding.namespace}/` : ''}${g.binding.name}`,
      role: `${g.role.kind} ${g.role.name}`,
      via: describeSubject(g.subject, g.binding.namespace).replace(/"/g, ''),
      rule: describeRule(r.rule),
      expands: r.expanded === undefined ? '' : `${r.expanded.length} resources`,
    })),
  );
}
