import { parseDocument } from 'yaml';
import { InputError } from '../errors.js';
import { LEVELS, STAGES, type Level, type Stage } from './types.js';

/**
 * An audit Policy (audit.k8s.io/v1), evaluated as the apiserver does (spec/k8s-audit.md §4):
 * rules in order, the first that matches gives the level, no match is None; the policy's
 * omitStages are added to each rule's.
 */

interface GroupResources {
  group: string;
  resources: string[];
  resourceNames: string[];
}

export interface PolicyRule {
  level: Level;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  nonResourceURLs: string[];
  omitStages: Stage[];
}

export interface AuditPolicy {
  rules: PolicyRule[];
  omitStages: Stage[];
}

/** A request as the policy sees it: the authenticated user and the authorization attributes. */
export interface PolicyRequest {
  user: string;
  groups: string[];
  verb: string;
  /** A resource request's group, resource and subresource; absent for a non-resource request. */
  resource?: { group: string; resource: string; subresource?: string; namespace?: string; name?: string };
  path?: string;
}

const strings = (v: unknown, where: string): string[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new InputError(`${where}: expected a list of strings`);
  return v as string[];
};

const stages = (v: unknown, where: string): Stage[] => {
  const s = strings(v, where);
  for (const x of s) if (!STAGES.includes(x as Stage)) throw new InputError(`${where}: '${x}' is not a stage (${STAGES.join(', ')})`);
  return s as Stage[];
};

/** Reads a Policy from YAML or JSON text; errors name the file and the rule. */
export function parsePolicy(text: string, file: string): AuditPolicy {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new InputError(`${file}: not YAML: ${doc.errors[0]!.message}`);
  const p = doc.toJS() as Record<string, unknown> | null;
  if (!p || typeof p !== 'object' || p.kind !== 'Policy' || !/^audit\.k8s\.io\//.test(String(p.apiVersion))) {
    throw new InputError(`${file}: expected an audit.k8s.io Policy (kind: Policy), got ${p && typeof p === 'object' ? `kind ${JSON.stringify(p.kind)}` : 'no mapping'}`);
  }
  if (!Array.isArray(p.rules)) throw new InputError(`${file}: rules: expected a list (a Policy without rules audits nothing)`);
  const rules = p.rules.map((r: unknown, i: number): PolicyRule => {
    const at = `${file}: rules[${i}]`;
    if (!r || typeof r !== 'object') throw new InputError(`${at}: expected a mapping`);
    const rule = r as Record<string, unknown>;
    if (!LEVELS.includes(rule.level as Level)) throw new InputError(`${at}.level: expected one of ${LEVELS.join(', ')}, got ${JSON.stringify(rule.level)}`);
    const resources = (Array.isArray(rule.resources) ? rule.resources : rule.resources === undefined ? [] : null);
    if (resources === null) throw new InputError(`${at}.resources: expected a list of {group, resources}`);
    return {
      level: rule.level as Level,
      users: strings(rule.users, `${at}.users`),
      userGroups: strings(rule.userGroups, `${at}.userGroups`),
      verbs: strings(rule.verbs, `${at}.verbs`),
      resources: resources.map((g: unknown, k: number) => {
        const gr = (g ?? {}) as Record<string, unknown>;
        return { group: typeof gr.group === 'string' ? gr.group : '', resources: strings(gr.resources, `${at}.resources[${k}].resources`), resourceNames: strings(gr.resourceNames, `${at}.resources[${k}].resourceNames`) };
      }),
      namespaces: strings(rule.namespaces, `${at}.namespaces`),
      nonResourceURLs: strings(rule.nonResourceURLs, `${at}.nonResourceURLs`),
      omitStages: stages(rule.omitStages, `${at}.omitStages`),
    };
  });
  return { rules, omitStages: stages(p.omitStages, `${file}: omitStages`) };
}

function resourceMatches(g: GroupResources, r: NonNullable<PolicyRequest['resource']>): boolean {
  if (g.group !== '*' && g.group !== r.group) return false;
  if (g.resourceNames.length > 0 && !g.resourceNames.includes(r.name ?? '')) return false;
  if (g.resources.length === 0) return true;
  const full = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  return g.resources.some((x) => x === '*' || x === full || (r.subresource !== undefined && (x === `*/${r.subresource}` || x === `${r.resource}/*`)));
}

function urlMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

function ruleMatches(rule: PolicyRule, q: PolicyRequest): boolean {
  if (rule.users.length > 0 && !rule.users.includes(q.user)) return false;
  if (rule.userGroups.length > 0 && !rule.userGroups.some((g) => q.groups.includes(g))) return false;
  if (rule.verbs.length > 0 && !rule.verbs.includes(q.verb)) return false;
  const resourceRule = rule.resources.length > 0 || rule.namespaces.length > 0;
  if (q.resource) {
    if (rule.nonResourceURLs.length > 0) return false;
    if (rule.namespaces.length > 0 && !rule.namespaces.includes(q.resource.namespace ?? '')) return false;
    if (rule.resources.length > 0 && !rule.resources.some((g) => resourceMatches(g, q.resource!))) return false;
    return true;
  }
  if (resourceRule) return false;
  return rule.nonResourceURLs.length === 0 || rule.nonResourceURLs.some((u) => urlMatches(u, q.path ?? ''));
}

/** The level a request is audited at, the stages left out, and the rule that decided (-1: none matched). */
export function levelOf(policy: AuditPolicy, q: PolicyRequest): { level: Level; omitStages: Stage[]; rule: number } {
  const i = policy.rules.findIndex((r) => ruleMatches(r, q));
  if (i < 0) return { level: 'None', omitStages: policy.omitStages, rule: -1 };
  return { level: policy.rules[i]!.level, omitStages: [...new Set([...policy.omitStages, ...policy.rules[i]!.omitStages])], rule: i };
}
