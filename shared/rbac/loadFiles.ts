import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, errorMessage } from '../errors.js';
import { parseObjects, type ObjectProblem, type ParsedObjects } from './parseObjects.js';
import { emptyState, type RbacState } from './types.js';

const EXTENSIONS = /\.(ya?ml|json)$/i;

/**
 * The RBAC objects in files and folders (folders read recursively: *.yaml, *.yml, *.json, in
 * name order; `-` is standard input). An object defined twice (same kind, namespace and name)
 * is reported, and the later one is used. Throws InputError when a path cannot be read.
 */
export function loadFiles(paths: readonly string[]): ParsedObjects & { files: string[] } {
  const files = paths.flatMap((p) => expand(p));
  const merged: ParsedObjects = { state: emptyState(), skipped: {}, problems: [] };
  const seen = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(`${file}: cannot read it (${errorMessage(err)})`);
    }
    const one = parseObjects(text, file === '-' ? 'stdin' : file);
    mergeInto(merged, one, file, seen);
  }
  return { ...merged, files };
}

function expand(path: string): string[] {
  if (path === '-') return ['-'];
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new InputError(`${path}: no such file or folder`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const full = join(path, name);
      return statSync(full).isDirectory() ? expand(full) : EXTENSIONS.test(name) ? [full] : [];
    });
}

const KEYS: { [K in keyof Omit<RbacState, 'discovery'>]: (o: RbacState[K][number]) => string } = {
  clusterRoles: (o) => `ClusterRole ${o.name}`,
  roles: (o) => `Role ${o.namespace}/${o.name}`,
  clusterRoleBindings: (o) => `ClusterRoleBinding ${o.name}`,
  roleBindings: (o) => `RoleBinding ${o.namespace}/${o.name}`,
  serviceAccounts: (o) => `ServiceAccount ${o.namespace}/${o.name}`,
};

/** Adds `one` to `into`; a repeated object replaces the earlier one and is reported. */
export function mergeInto(into: ParsedObjects, one: ParsedObjects, source: string, seen = new Map<string, string>()): void {
  for (const [kind, n] of Object.entries(one.skipped)) into.skipped[kind] = (into.skipped[kind] ?? 0) + n;
  into.problems.push(...one.problems);
  for (const key of Object.keys(KEYS) as (keyof typeof KEYS)[]) {
    const keyOf = KEYS[key] as (o: unknown) => string;
    const target = into.state[key] as unknown[];
    for (const o of one.state[key] as unknown[]) {
      const k = keyOf(o);
      const earlier = seen.get(k);
      if (earlier !== undefined) {
        const problem: ObjectProblem = { position: source, reason: `${k} is defined again (first in ${earlier}); the later definition is used` };
        into.problems.push(problem);
        const i = target.findIndex((x) => keyOf(x) === k);
        target.splice(i, 1);
      }
      seen.set(k, source);
      target.push(o);
    }
  }
  if (one.state.discovery) into.state.discovery = one.state.discovery;
}
