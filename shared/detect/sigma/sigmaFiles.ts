import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, errorMessage } from '../../errors.js';
import { readSigmaRule, type SigmaCheck, type SigmaRule } from './sigmaRule.js';

/** The rule files (`.yml`, `.yaml`) under each path, recursively, in a stable order. */
function ruleFiles(path: string, where: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path}: ${errorMessage(err)}`);
  }
  if (stat.isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((d) => !d.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((d) => (d.isDirectory() ? ruleFiles(join(path, d.name), where) : /\.ya?ml$/i.test(d.name) ? [join(path, d.name)] : []));
}

/** Reads every rule under `paths` (directories or files); a second rule with an id already seen is a problem. */
export function checkSigmaPaths(paths: readonly string[], where: string): SigmaCheck[] {
  const seen = new Map<string, string>();
  return paths.flatMap((p) => ruleFiles(p, where)).map((file) => {
    const check = readSigmaRule(readFileSync(file, 'utf8'), file);
    const first = check.rule ? seen.get(check.rule.id) : undefined;
    if (check.rule && first) return { ...check, problems: [`id ${check.rule.id} is also the id of ${first}`], rule: null };
    if (check.rule) seen.set(check.rule.id, file);
    return check;
  });
}

/**
 * The rules of `detections.sigma` that kubetrail can evaluate as written; each one it cannot is
 * reported through `warn` with its problems, and left out.
 */
export function loadSigmaRules(paths: readonly string[], warn: (message: string) => void): SigmaRule[] {
  const checks = checkSigmaPaths(paths, 'detections.sigma');
  for (const c of checks) if (!c.rule) warn(`Sigma rule ${c.file} is not evaluated: ${c.problems.join('; ')} (kubetrail rules check names every problem)`);
  return checks.flatMap((c) => (c.rule ? [c.rule] : []));
}
