import type { ClusterRole, LabelSelector, PolicyRule } from './types.js';

/** Whether `labels` satisfy a label selector (an empty selector matches everything). */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export interface AggregationResult {
  /** Every ClusterRole, aggregated ones with the rules the aggregation controller would give them. */
  clusterRoles: ClusterRole[];
  /** Aggregated roles whose stored rules differ from the converged ones (the controller has not caught up). */
  pending: string[];
}

/**
 * The converged state of aggregated ClusterRoles (spec/rbac.md §3.4): each role with an
 * aggregationRule gets the union of the rules of every other ClusterRole its selectors match,
 * taken in name order without duplicates, repeated until nothing changes (view flows into
 * edit, edit into admin), whatever its stored rules say.
 */
export function aggregateClusterRoles(roles: readonly ClusterRole[]): AggregationResult {
  const byName = [...roles].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rules = new Map<string, PolicyRule[]>(byName.map((r) => [r.name, r.rules]));
  const aggregated = byName.filter((r) => r.aggregationRule);
  // Each round can only add rules, and there are finitely many: a fixpoint comes within
  // as many rounds as there are aggregated roles (the chain view → edit → admin is the longest).
  for (let round = 0; round <= aggregated.length; round++) {
    let changed = false;
    for (const role of aggregated) {
      const union: PolicyRule[] = [];
      const seen = new Set<string>();
      for (const other of byName) {
        if (other.name === role.name) continue;
        if (!role.aggregationRule!.clusterRoleSelectors.some((s) => selectorMatches(s, other.labels))) continue;
        for (const rule of rules.get(other.name)!) {
          const key = ruleKey(rule);
          if (!seen.has(key)) {
            seen.add(key);
            union.push(rule);
          }
        }
      }
      if (!sameRules(union, rules.get(role.name)!)) {
        rules.set(role.name, union);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const pending = aggregated.filter((r) => !sameRuleSet(r.rules, rules.get(r.name)!)).map((r) => r.name);
  return { clusterRoles: roles.map((r) => (r.aggregationRule ? { ...r, rules: rules.get(r.name)! } : r)), pending };
}

/** A rule as a comparable string. */
export function ruleKey(r: PolicyRule): string {
  return JSON.stringify([r.verbs, r.apiGroups, r.resources, r.resourceNames, r.nonResourceURLs]);
}

function sameRules(a: readonly PolicyRule[], b: readonly PolicyRule[]): boolean {
  return a.length === b.length && a.every((r, i) => ruleKey(r) === ruleKey(b[i]!));
}

/** The same rules in any order. */
function sameRuleSet(a: readonly PolicyRule[], b: readonly PolicyRule[]): boolean {
  const ka = new Set(a.map(ruleKey));
  const kb = new Set(b.map(ruleKey));
  return ka.size === kb.size && [...ka].every((k) => kb.has(k));
}
