import { errorMessage } from '../errors.js';
import { parseAllDocuments } from 'yaml';
import type { ClusterRole, ClusterRoleBinding, LabelSelector, PolicyRule, RbacState, Role, RoleBinding, RoleRef, ServiceAccount, Subject } from './types.js';
import { emptyState } from './types.js';

/** An object that could not be read, with where it was. */
export interface ObjectProblem {
  /** `file.yaml: document 2, item 7 (ClusterRole "x")`. */
  position: string;
  reason: string;
}

export interface ParsedObjects {
  state: RbacState;
  /** Objects of other kinds, counted by kind. */
  skipped: Record<string, number>;
  problems: ObjectProblem[];
}

const RBAC_KINDS = new Set(['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding', 'ServiceAccount']);

/**
 * The RBAC objects in one text: multi-document YAML or JSON; single objects, `v1 List`s and
 * typed lists (`ClusterRoleList`, whose items carry no kind) — what `kubectl get … -o yaml|json`
 * prints. Objects of other kinds are counted and skipped; a malformed object is reported with
 * its position and the rest are kept. Pure.
 */
export function parseObjects(text: string, source: string): ParsedObjects {
  const out: ParsedObjects = { state: emptyState(), skipped: {}, problems: [] };
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, d) => {
    const where = list.length > 1 ? `${source}: document ${d + 1}` : source;
    if (doc.errors.length > 0) {
      out.problems.push({ position: where, reason: `not YAML or JSON: ${doc.errors[0]!.message.split('\n')[0]}` });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // Found by fuzzing: an alias to an anchor not yet set throws from toJS().
      out.problems.push({ position: where, reason: `not YAML or JSON: ${errorMessage(err).split('\n')[0]}` });
      return;
    }
    if (value === null || value === undefined) return;
    addValue(value, where, undefined, out);
  });
  return out;
}

function addValue(value: unknown, where: string, impliedKind: string | undefined, out: ParsedObjects): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => addValue(v, `${where}, item ${i + 1}`, impliedKind, out));
    return;
  }
  if (!isObject(value)) {
    out.problems.push({ position: where, reason: `expected a Kubernetes object, got ${describe(value)}` });
    return;
  }
  const kind = typeof value.kind === 'string' ? value.kind : impliedKind;
  if (kind === undefined) {
    out.problems.push({ position: where, reason: 'no kind: expected an RBAC object (ClusterRole, Role, ClusterRoleBinding, RoleBinding, ServiceAccount) or a List' });
    return;
  }
  if (kind === 'List' || kind.endsWith('List')) {
    if (!Array.isArray(value.items)) {
      out.problems.push({ position: where, reason: `${kind} without an items list` });
      return;
    }
    const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length);
    value.items.forEach((v, i) => addValue(v, `${where}, item ${i + 1}`, itemKind, out));
    return;
  }
  if (!RBAC_KINDS.has(kind)) {
    out.skipped[kind] = (out.skipped[kind] ?? 0) + 1;
    return;
  }
  const name = isObject(value.metadata) && typeof value.metadata.name === 'string' ? value.metadata.name : '';
  const label = `${where} (${kind}${name ? ` "${name}"` : ''})`;
  try {
    addObject(kind, value, out.state);
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err;
    out.problems.push({ position: label, reason: err.message });
  }
}

class ShapeError extends Error {}

function addObject(kind: string, o: Record<string, unknown>, state: RbacState): void {
  const meta = field(o, 'metadata', 'object', 'metadata') as Record<string, unknown>;
  const name = field(meta, 'name', 'string', 'metadata.name') as string;
  if (name === '') throw new ShapeError('metadata.name: empty');
  const namespace = (field(meta, 'namespace', 'string', 'metadata.namespace', '') as string);
  const labels = stringMap(meta.labels, 'metadata.labels');
  const needNamespace = () => {
    if (namespace === '') throw new ShapeError(`metadata.namespace: a ${kind} needs one`);
    return namespace;
  };
  switch (kind) {
    case 'ClusterRole': {
      const role: ClusterRole = { name, labels, rules: rules(o.rules) };
      if (o.aggregationRule !== undefined && o.aggregationRule !== null) {
        const agg = field(o, 'aggregationRule', 'object', 'aggregationRule') as Record<string, unknown>;
        const selectors = list(agg.clusterRoleSelectors, 'aggregationRule.clusterRoleSelectors');
        role.aggregationRule = { clusterRoleSelectors: selectors.map((s, i) => selector(s, `aggregationRule.clusterRoleSelectors[${i}]`)) };
      }
      state.clusterRoles.push(role);
      return;
    }
    case 'Role':
      state.roles.push({ name, namespace: needNamespace(), labels, rules: rules(o.rules) } satisfies Role);
      return;
    case 'ClusterRoleBinding':
      state.clusterRoleBindings.push({ name, roleRef: roleRef(o.roleRef), subjects: subjects(o.subjects) } satisfies ClusterRoleBinding);
      return;
    case 'RoleBinding':
      state.roleBindings.push({ name, namespace: needNamespace(), roleRef: roleRef(o.roleRef), subjects: subjects(o.subjects) } satisfies RoleBinding);
      return;
    case 'ServiceAccount':
      state.serviceAccounts.push({ name, namespace: needNamespace() } satisfies ServiceAccount);
      return;
  }
}

function rules(value: unknown): PolicyRule[] {
  return list(value, 'rules').map((r, i) => {
    const at = `rules[${i}]`;
    if (!isObject(r)) throw new ShapeError(`${at}: expected an object, got ${describe(r)}`);
    return {
      verbs: strings(r.verbs, `${at}.verbs`),
      apiGroups: strings(r.apiGroups, `${at}.apiGroups`),
      resources: strings(r.resources, `${at}.resources`),
      resourceNames: strings(r.resourceNames, `${at}.resourceNames`),
      nonResourceURLs: strings(r.nonResourceURLs, `${at}.nonResourceURLs`),
    };
  });
}

function roleRef(value: unknown): RoleRef {
  if (!isObject(value)) throw new ShapeError(`roleRef: expected an object with kind and name, got ${describe(value)}`);
  return {
    apiGroup: field(value, 'apiGroup', 'string', 'roleRef.apiGroup', '') as string,
    kind: field(value, 'kind', 'string', 'roleRef.kind') as string,
    name: field(value, 'name', 'string', 'roleRef.name') as string,
  };
}

function subjects(value: unknown): Subject[] {
  return list(value, 'subjects').map((s, i) => {
    const at = `subjects[${i}]`;
    if (!isObject(s)) throw new ShapeError(`${at}: expected an object, got ${describe(s)}`);
    return {
      kind: field(s, 'kind', 'string', `${at}.kind`) as string,
      name: field(s, 'name', 'string', `${at}.name`) as string,
      namespace: field(s, 'namespace', 'string', `${at}.namespace`, '') as string,
      apiGroup: field(s, 'apiGroup', 'string', `${at}.apiGroup`, '') as string,
    };
  });
}

function selector(value: unknown, at: string): LabelSelector {
  if (!isObject(value)) throw new ShapeError(`${at}: expected a label selector, got ${describe(value)}`);
  return {
    matchLabels: stringMap(value.matchLabels, `${at}.matchLabels`),
    matchExpressions: list(value.matchExpressions, `${at}.matchExpressions`).map((e, i) => {
      const where = `${at}.matchExpressions[${i}]`;
      if (!isObject(e)) throw new ShapeError(`${where}: expected an object, got ${describe(e)}`);
      const operator = field(e, 'operator', 'string', `${where}.operator`) as string;
      if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(operator)) {
        throw new ShapeError(`${where}.operator: expected In, NotIn, Exists or DoesNotExist, got "${operator}"`);
      }
      return { key: field(e, 'key', 'string', `${where}.key`) as string, operator: operator as LabelSelector['matchExpressions'][number]['operator'], values: strings(e.values, `${where}.values`) };
    }),
  };
}

/** A list; absent or null is empty. */
function list(value: unknown, at: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ShapeError(`${at}: expected a list, got ${describe(value)}`);
  return value;
}

function strings(value: unknown, at: string): string[] {
  const l = list(value, at);
  l.forEach((v, i) => {
    if (typeof v !== 'string') throw new ShapeError(`${at}[${i}]: expected a string, got ${describe(v)}`);
  });
  return l as string[];
}

function stringMap(value: unknown, at: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new ShapeError(`${at}: expected a map of strings, got ${describe(value)}`);
  for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') throw new ShapeError(`${at}.${k}: expected a string, got ${describe(v)}`);
  return value as Record<string, string>;
}

function field(o: Record<string, unknown>, key: string, type: 'string' | 'object', at: string, fallback?: unknown): unknown {
  const v = o[key];
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (type === 'object' ? !isObject(v) : typeof v !== type) throw new ShapeError(`${at}: expected ${type === 'object' ? 'an object' : 'a string'}, got ${describe(v)}`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}
