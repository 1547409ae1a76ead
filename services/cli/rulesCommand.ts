import { checkSigmaPaths } from '../../shared/detect/sigma/sigmaFiles.js';

/**
 * `kubetrail rules check PATH…`: reads every Sigma rule under the paths and names, rule by rule,
 * what kubetrail cannot evaluate as written (unsupported modifiers, fields the audit Event does
 * not have, aggregations). Exit 1 when any rule has a problem, 0 when every rule will run.
 */
export function rulesCheckCommand(paths: string[], flags: { output: 'text' | 'json' }): number {
  const checks = checkSigmaPaths(paths, 'rules check');
  const bad = checks.filter((c) => c.problems.length > 0);
  if (flags.output === 'json') {
    const rules = checks.map((c) => ({ file: c.file, id: c.id, title: c.title, ok: c.problems.length === 0, level: c.rule?.level ?? null, problems: c.problems }));
    process.stdout.write(`${JSON.stringify({ rules: checks.length, ok: checks.length - bad.length, unsupported: bad.length, results: rules }, null, 2)}\n`);
  } else {
    const lines = checks.flatMap((c) => [`${c.problems.length === 0 ? 'OK         ' : 'UNSUPPORTED'} ${c.file}${c.title ? `: ${c.title}` : ''}`, ...c.problems.map((p) => `            ${p}`)]);
    lines.push(`${checks.length} rule(s): ${checks.length - bad.length} will run, ${bad.length} will not`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return bad.length === 0 && checks.length > 0 ? 0 : 1;
}
