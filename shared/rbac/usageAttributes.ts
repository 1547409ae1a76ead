import { joinParts, splitParts } from '../partsKey.js';
import { nameInPath, requestName } from './eventToAttributes.js';

/**
 * What a request counts as a use of (spec/rbac.md §1.1): its attributes as one key, the unit
 * the usage rollups count, and which of its stages count.
 */

/** The request attributes of one event as a key of the usage_atoms dimension: verb, group, resource, subresource, namespace, name, path. */
export type AttributeKey = string;

/** The usage_atoms insert parameters of a key. */
export function atomParams(key: AttributeKey): string[] {
  return splitParts(key);
}

/**
 * Whether a request may have had a ResponseStarted stage: the apiserver's long-running
 * requests (watch and proxy verbs; attach, exec, log, portforward and proxy subresources).
 * Only these can have two stages that count as use.
 */
export function mayHaveStarted(verb: string, subresource: string): boolean {
  return verb === 'watch' || verb === 'proxy' || subresource === 'exec' || subresource === 'attach' || subresource === 'log' || subresource === 'portforward' || subresource === 'proxy';
}

/**
 * The attributes the authorizer saw, from an event's stored parts (spec/rbac.md §1.1, as
 * eventToAttributes): `path` is the request path when it is not the one the objectRef implies
 * (null when it is), `query` what followed `?`.
 */
export function attributeKey(
  verb: string,
  ref: { apiGroup: string; resource: string; subresource: string; namespace: string; name: string } | null,
  path: string | null,
  query: string | null,
): AttributeKey {
  if (!ref) return joinParts([verb, '', '', '', '', '', path ?? '']);
  // A path the objectRef implies names the objectRef's object.
  const name = requestName(verb, ref.name, path === null ? ref.name : nameInPath(path), query);
  return joinParts([verb, ref.apiGroup, ref.resource, ref.subresource, ref.namespace, name, '']);
}

/** The key of a check the apiserver made without auditing it (specialVerbs.ts impersonationChecks). */
export function checkKey(c: { verb: string; apiGroup: string; resource: string; subresource: string; namespace: string; name: string }): AttributeKey {
  return joinParts([c.verb, c.apiGroup, c.resource, c.subresource, c.namespace, c.name, '']);
}

/** Whether an event at this stage counts as its action's use: stages after the authorization decision. */
export function countsAsUse(stage: number): boolean {
  return stage >= 1 && stage <= 3;
}

