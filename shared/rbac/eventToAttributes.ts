import type { AuditEvent } from '../audit/types.js';
import type { RequestAttributes } from './types.js';

/** Namespace subresources: `/namespaces/NS/status` is the namespace's, not a resource in NS. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * What the authorizer saw for an audit event (spec/rbac.md §1.1): the only function that knows
 * the event's shape. The effective user (impersonated, else the actor) with its groups as
 * recorded; for a resource request the objectRef's group, resource, subresource and namespace,
 * and the name re-derived from the request URI — the objectRef's name may come from the body
 * (a create at a collection URL was authorized with no name) — or from an exact
 * `fieldSelector=metadata.name=X` on a list or watch. Null when there is no user (a failed
 * authentication). Pure.
 */
export function eventToAttributes(e: AuditEvent): RequestAttributes | null {
  const u = e.impersonatedUser ?? e.user;
  if (!u?.username) return null;
  const user = { name: u.username, groups: u.groups ?? [] };
  const q = e.requestURI.indexOf('?');
  const path = q < 0 ? e.requestURI : e.requestURI.slice(0, q);
  const ref = e.objectRef;
  if (!ref) return { user, verb: e.verb, resourceRequest: false, path };
  const name = requestName(e.verb, ref.name ?? '', nameInPath(path), q < 0 ? null : e.requestURI.slice(q + 1));
  return { user, verb: e.verb, resourceRequest: true, apiGroup: ref.apiGroup ?? '', resource: ref.resource ?? '', subresource: ref.subresource ?? '', namespace: ref.namespace ?? '', name };
}

/**
 * The name a resource request was authorized with: the one in its path (`pathName`, from
 * nameInPath), else — the path was not understood — the objectRef's, except for a create;
 * for a list or watch of a collection, the name of an exact metadata.name field selector.
 */
export function requestName(verb: string, refName: string, pathName: string | null, query: string | null): string {
  const name = pathName ?? (verb === 'create' ? '' : refName);
  if (name === '' && (verb === 'list' || verb === 'watch') && query !== null && query.includes('fieldSelector')) return fieldSelectorName(query) ?? '';
  return name;
}

/**
 * The object name in a resource path, as the apiserver's request-info parser finds it: ""
 * for a collection, null when the path is not an `/api/V/…` or `/apis/G/V/…` resource path.
 */
export function nameInPath(path: string): string | null {
  const parts = path.split('/').filter((p) => p !== '');
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 4) rest = parts.slice(3);
  else return null;
  // Deprecated verb prefixes: /api/v1/watch/…, /api/v1/proxy/….
  if (rest[0] === 'watch' || rest[0] === 'proxy') rest = rest.slice(1);
  if (rest[0] === 'namespaces' && rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  if (rest.length === 0) return null;
  return rest[1] !== undefined ? decodeURIComponent(rest[1]) : '';
}

/** X of an exact `metadata.name=X` (or `==`) requirement in a query's fieldSelector, else null. */
export function fieldSelectorName(query: string): string | null {
  const selector = new URLSearchParams(query).get('fieldSelector');
  if (selector === null) return null;
  for (const requirement of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(requirement);
    if (m && !requirement.includes('!=')) return m[1]!;
  }
  return null;
}
