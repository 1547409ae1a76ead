import type { PolicyRule, RequestAttributes } from './types.js';

/**
 * Whether one PolicyRule allows a request, exactly as the apiserver's RBAC authorizer decides
 * (spec/rbac.md §3.1): case-sensitive matches; `*` wildcards; a resource of `*` then `/sub`
 * covers any resource's `sub` subresource, while `res` then `/*` is no wildcard at all;
 * resourceNames need a name; non-resource URLs
 * match exactly, or by plain prefix when the rule's URL ends with `*`. A rule's resource part
 * applies only to resource requests, its URL part only to non-resource requests.
 */
export function ruleAllows(attrs: RequestAttributes, rule: PolicyRule): boolean {
  return ruleAllowsCombined(attrs, attrs.resourceRequest && attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resourceRequest ? attrs.resource : '', rule);
}

/** ruleAllows with the request's `resource/subresource` (or `resource`) computed once by the caller. */
export function ruleAllowsCombined(attrs: RequestAttributes, combined: string, rule: PolicyRule): boolean {
  if (!verbMatches(rule, attrs.verb)) return false;
  if (!attrs.resourceRequest) return nonResourceURLMatches(rule, attrs.path);
  return apiGroupMatches(rule, attrs.apiGroup) && resourceMatches(rule, combined, attrs.subresource) && resourceNameMatches(rule, attrs.name);
}

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  for (const v of rule.verbs) if (v === '*' || v === verb) return true;
  return false;
}

export function apiGroupMatches(rule: PolicyRule, apiGroup: string): boolean {
  for (const g of rule.apiGroups) if (g === '*' || g === apiGroup) return true;
  return false;
}

/** `combined` is `resource` or `resource/subresource`. */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  if (rule.resourceNames.length === 0) return true;
  return rule.resourceNames.includes(name);
}

export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true;
  }
  return false;
}
