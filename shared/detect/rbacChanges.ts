/**
 * Escalation in RBAC objects written through the API: what a created or changed Role,
 * ClusterRole or binding grants. Pure, over the request body (absent at Metadata level).
 */

import { isObj, type Obj } from './json.js';

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Roles that hand over a namespace or the cluster. */
export const ADMIN_ROLES = new Set(['cluster-admin', 'admin']);
const ANONYMOUS_SUBJECTS = new Set(['system:anonymous', 'system:unauthenticated']);
const ESCALATING_VERBS = ['escalate', 'bind', 'impersonate'];
const REMOTE_SHELL = new Set(['pods/exec', 'pods/attach', 'pods/portforward', 'nodes/proxy']);

const WRITES = new Set(['create', 'update', 'patch']);

/** Why writing `body` to `resource` (verb, object name) escalates privilege; empty when it does not. */
export function escalationReasons(resource: string, verb: string, name: string, body: unknown): string[] {
  const reasons: string[] = [];
  if ((resource === 'clusterroles' || resource === 'roles') && name.startsWith('system:') && (WRITES.has(verb) || verb === 'delete') && verb !== 'create') {
    reasons.push(`${verb} of system ${resource === 'clusterroles' ? 'ClusterRole' : 'Role'} ${name}`);
  }
  if (!WRITES.has(verb) || !isObj(body)) return reasons;
  if (resource === 'clusterrolebindings' || resource === 'rolebindings') reasons.push(...bindingReasons(body));
  if (resource === 'clusterroles' || resource === 'roles') reasons.push(...roleReasons(body));
  return reasons;
}

function bindingReasons(body: Obj): string[] {
  const reasons: string[] = [];
  const role = isObj(body.roleRef) && typeof body.roleRef.name === 'string' ? body.roleRef.name : undefined;
  const subjects = Array.isArray(body.subjects) ? body.subjects.filter(isObj) : [];
  if (role !== undefined && ADMIN_ROLES.has(role)) reasons.push(`binds ${role}`);
  const anonymous = subjects.filter((s) => typeof s.name === 'string' && ANONYMOUS_SUBJECTS.has(s.name));
  if (anonymous.length > 0) reasons.push(`grants ${role ?? 'a role'} to ${anonymous.map((s) => String(s.name)).join(', ')}`);
  if (role !== undefined && ADMIN_ROLES.has(role) && subjects.some((s) => s.kind === 'ServiceAccount' && s.name === 'default')) {
    reasons.push(`grants ${role} to a default service account`);
  }
  return reasons;
}

function roleReasons(body: Obj): string[] {
  const reasons = new Set<string>();
  for (const rule of Array.isArray(body.rules) ? body.rules.filter(isObj) : []) {
    const verbs = strings(rule.verbs);
    const resources = strings(rule.resources);
    if (verbs.includes('*')) reasons.add('wildcard verbs');
    if (resources.includes('*')) reasons.add('wildcard resources');
    for (const v of ESCALATING_VERBS) if (verbs.includes(v)) reasons.add(`grants ${v}`);
    for (const r of resources) if (REMOTE_SHELL.has(r)) reasons.add(`grants ${r}`);
  }
  return [...reasons];
}
